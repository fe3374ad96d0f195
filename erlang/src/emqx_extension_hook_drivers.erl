%% @doc The driver registry: enables the configured drivers at start,
%% enables, disables and reloads them on request, and registers with the
%% broker exactly the hooks each enabled driver's handler implements.
%%
%% Every driver's broker callbacks carry its persistent_term key (see
%% `emqx_extension_hook_handler'), under which the registry keeps the
%% instance that answers. A reload starts the new instance beside the old
%% one, switches the key to it, and only then lets the old one finish the
%% calls it has and stop: no call finds neither, and a new library that
%% fails to load or init leaves the old one serving.
%%
%% Drivers are asked in config order: the first configured driver hooks
%% each point at the highest priority, so its decision wins.
-module(emqx_extension_hook_drivers).

-behaviour(gen_server).

-include("emqx_extension_hook.hrl").

-export([start_link/0, enable/1, disable/1, reload/1, list/0, lookup/1, callbacks/1, stats/0,
         failures/0, log_level_changed/1]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).

-define(SERVER, ?MODULE).
-define(CALLBACKS, emqx_extension_hook_callbacks).

-type info() :: #{name := binary(), enabled := boolean(), hooks := [atom()],
                  kind => emqx_extension_hook_config:kind(), transport => nif | port,
                  path => string(), optional => boolean(),
                  modes => #{atom() => atom()}, error => term()}.
-type stats() :: #{name := binary(), transport := nif | port,
                   queue_depth := non_neg_integer(), restarts := non_neg_integer(),
                   log_dropped := non_neg_integer(),
                   hooks := [{atom(), #{atom() => number()}}],
                   handler := [{binary(), non_neg_integer()}]}.
-export_type([info/0, stats/0]).

-record(entry, {driver :: #exhook_driver{},
                %% The module slot the instance's library is loaded into.
                slot :: emqx_extension_hook_driver:slot(),
                %% The priority its callbacks are registered at.
                priority :: integer(),
                opts :: emqx_extension_hook_config:opts()}).
-type state() :: #{enabled := #{binary() => #entry{}},
                   %% Why each driver that is not running failed, and why
                   %% the last reload of a running one did.
                   errors := #{binary() => term()},
                   %% The module slot each driver's last instance used: the
                   %% next one takes the other, which no late caller holds.
                   slots := #{binary() => emqx_extension_hook_driver:slot()}}.

%% @doc Starts the registry, which enables every configured driver.
-spec start_link() -> {ok, pid()} | {error, term()}.
start_link() ->
    gen_server:start_link({local, ?SERVER}, ?MODULE, [], []).

%% @doc Enables configured driver `Name': starts its handler, hooks what
%% it implements.
-spec enable(binary() | string() | atom()) -> ok | {error, term()}.
enable(Name) ->
    gen_server:call(?SERVER, {enable, name(Name)}, infinity).

%% @doc Disables driver `Name': unhooks it, answers its queued calls with
%% the failure policy, runs its handler's deinit, unloads its library.
-spec disable(binary() | string() | atom()) -> ok | {error, term()}.
disable(Name) ->
    gen_server:call(?SERVER, {disable, name(Name)}, infinity).

%% @doc Replaces driver `Name''s instance by a new one from its config
%% (picking up a rebuilt library or edited handler code) with no moment
%% where neither answers; on failure the old one keeps serving.
-spec reload(binary() | string() | atom()) -> ok | {error, term()}.
reload(Name) ->
    gen_server:call(?SERVER, {reload, name(Name)}, infinity).

%% @doc Each enabled driver's counters, by hook: calls, succeeded, failed,
%% timed_out, dropped, overran, queued, p50_us, p99_us.
-spec stats() -> [stats()].
stats() ->
    gen_server:call(?SERVER, stats).

%% @doc Every configured or enabled driver, in config order.
-spec list() -> [info()].
list() ->
    gen_server:call(?SERVER, list).

%% @doc The configured drivers that are not optional and failed to start:
%% `[{Name, Reason}]'.
-spec failures() -> [{binary(), term()}].
failures() ->
    gen_server:call(?SERVER, failures).

%% @doc The broker's logger level changed: every driver's handler logs
%% at `Level' from now on.
-spec log_level_changed(logger:level()) -> ok.
log_level_changed(Level) ->
    gen_server:cast(?SERVER, {log_level, Level}).

%% @doc The instance of enabled driver `Name' that answers now.
-spec lookup(binary() | string() | atom()) -> {ok, #exhook_driver{}} | {error, not_enabled}.
lookup(Name) ->
    gen_server:call(?SERVER, {lookup, name(Name)}).

%% @doc The broker callbacks of enabled driver `Name', as registered:
%% `[{HookPoint, {Module, Function, ExtraArgs}}]'.
-spec callbacks(binary() | string() | atom()) ->
          {ok, [{atom(), {module(), atom(), list()}}]} | {error, not_enabled}.
callbacks(Name) ->
    gen_server:call(?SERVER, {callbacks, name(Name)}).

-spec init([]) -> {ok, state()}.
init([]) ->
    process_flag(trap_exit, true),
    State = lists:foldl(fun({Name, Opts}, S) -> element(2, enable_configured(Name, Opts, S)) end,
                        #{enabled => #{}, errors => #{}, slots => #{}},
                        emqx_extension_hook_config:drivers()),
    {ok, running(State)}.

-spec handle_call(term(), gen_server:from(), state()) -> {reply, term(), state()}.
handle_call({enable, Name}, _From, State) ->
    {Reply, State1} = enable_configured(Name, emqx_extension_hook_config:driver(Name), State),
    {reply, Reply, running(State1)};
handle_call({disable, Name}, _From, #{enabled := Enabled} = State) ->
    case maps:take(Name, Enabled) of
        {Entry, Enabled1} ->
            ok = do_disable(Entry),
            {reply, ok, running(State#{enabled := Enabled1})};
        error ->
            {reply, {error, not_enabled}, State}
    end;
handle_call({reload, Name}, _From, #{enabled := Enabled} = State) ->
    case maps:find(Name, Enabled) of
        {ok, Entry} ->
            {Reply, State1} = do_reload(Name, Entry, State),
            {reply, Reply, running(State1)};
        error ->
            {reply, {error, not_enabled}, State}
    end;
handle_call(stats, _From, State) ->
    {reply, [driver_stats(Name, D) || {Name, #entry{driver = D}} <- in_config_order(State)], State};
handle_call(list, _From, State) ->
    {reply, infos(State), State};
handle_call(failures, _From, #{enabled := Enabled, errors := Errors} = State) ->
    Failed = [{Name, maps:get(Name, Errors)}
              || {Name, Config} <- emqx_extension_hook_config:drivers(),
                 maps:is_key(Name, Errors), not maps:is_key(Name, Enabled), not optional(Config)],
    {reply, Failed, State};
handle_call({lookup, Name}, _From, #{enabled := Enabled} = State) ->
    case Enabled of
        #{Name := #entry{driver = D}} -> {reply, {ok, D}, State};
        _ -> {reply, {error, not_enabled}, State}
    end;
handle_call({callbacks, Name}, _From, #{enabled := Enabled} = State) ->
    case Enabled of
        #{Name := #entry{driver = D}} ->
            {reply, {ok, [{P, mfa(D, H)} || H = #{point := P} <- emqx_extension_hook_driver:hooks(D)]},
             State};
        _ ->
            {reply, {error, not_enabled}, State}
    end;
handle_call(Request, _From, State) ->
    {reply, {error, {unknown_call, Request}}, State}.

-spec handle_cast(term(), state()) -> {noreply, state()}.
handle_cast({log_level, Level}, #{enabled := Enabled} = State) ->
    maps:foreach(fun(_Name, #entry{driver = D}) -> emqx_extension_hook_driver:set_log_level(D, Level) end,
                 Enabled),
    {noreply, State};
handle_cast(_Msg, State) ->
    {noreply, State}.

-spec handle_info(term(), state()) -> {noreply, state()}.
handle_info(_Info, State) ->
    {noreply, State}.

-spec terminate(term(), state()) -> ok.
terminate(_Reason, #{enabled := Enabled}) ->
    maps:foreach(fun(_Name, Entry) -> do_disable(Entry) end, Enabled).

%%--------------------------------------------------------------------
%% Enable, disable, reload

enable_configured(Name, _Opts, #{enabled := Enabled} = State) when is_map_key(Name, Enabled) ->
    {{error, already_enabled}, State};
enable_configured(Name, {error, _} = E, State) ->
    failed(Name, E, State);
enable_configured(Name, {ok, #{priority := Priority} = Opts},
                  #{enabled := Enabled, slots := Slots} = State) ->
    Slot = 1 - maps:get(Name, Slots, 1),
    case emqx_extension_hook_driver:start(Name, Opts, Slot) of
        {ok, Driver} ->
            persistent_term:put(Driver#exhook_driver.key, Driver),
            register_hooks(Driver, emqx_extension_hook_driver:hooks(Driver), Priority),
            logger:info("exhook driver ~ts enabled: ~p", [Name, points(Driver)]),
            Entry = #entry{driver = Driver, slot = Slot, priority = Priority, opts = Opts},
            {ok, succeeded(Name, State#{enabled := Enabled#{Name => Entry},
                                        slots := Slots#{Name => Slot}})};
        {error, _} = E ->
            failed(Name, E, State)
    end.

%% Tells the metrics process which instances run now.
running(#{enabled := Enabled} = State) ->
    emqx_extension_hook_metrics:running([D || #entry{driver = D} <- maps:values(Enabled)]),
    State.

failed(Name, {error, Reason} = E, #{errors := Errors} = State) ->
    logger:error("exhook driver ~ts not enabled: ~ts",
                 [Name, emqx_extension_hook_errors:text(Name, Reason)]),
    {E, State#{errors := Errors#{Name => Reason}}}.

succeeded(Name, #{errors := Errors} = State) ->
    State#{errors := maps:remove(Name, Errors)}.

do_disable(#entry{driver = #exhook_driver{name = Name, key = Key, failed_action = FA} = Driver}) ->
    [unhook(Driver, H) || H <- emqx_extension_hook_driver:hooks(Driver)],
    %% A client that fetched the callbacks before the unhook (the broker
    %% removes them asynchronously) gets the policy.
    persistent_term:put(Key, {retired, FA}),
    emqx_extension_hook_metrics:account(Driver),
    emqx_extension_hook_driver:stop(Driver, drain),
    %% The VM unloads a library once the last reference to its resources
    %% is collected; this process held one until now.
    erlang:garbage_collect(),
    logger:info("exhook driver ~ts disabled", [Name]),
    ok.

do_reload(Name, #entry{driver = Old, slot = Slot, priority = Priority} = Entry,
          #{enabled := Enabled, slots := Slots, errors := Errors} = State) ->
    Next = 1 - Slot,
    Opts = config(Name, Entry),
    case emqx_extension_hook_driver:start(Name, Opts, Next) of
        {ok, New} ->
            switch(Old, New, Priority),
            emqx_extension_hook_metrics:account(Old),
            emqx_extension_hook_driver:stop(Old, finish),
            erlang:garbage_collect(),
            logger:info("exhook driver ~ts reloaded: ~p", [Name, points(New)]),
            Entry1 = Entry#entry{driver = New, slot = Next, opts = Opts},
            {ok, succeeded(Name, State#{enabled := Enabled#{Name => Entry1},
                                        slots := Slots#{Name => Next}})};
        {error, Reason} = E ->
            logger:error("exhook driver ~ts not reloaded, the running instance goes on: ~ts",
                         [Name, emqx_extension_hook_errors:text(Name, Reason)]),
            {E, State#{errors := Errors#{Name => Reason}}}
    end.

%% The driver's current config; the one it was enabled with if it has
%% gone from the config since.
config(Name, #entry{opts = Opts}) ->
    case emqx_extension_hook_config:driver(Name) of
        {ok, Current} -> Current;
        {error, _} -> Opts
    end.

%% New calls go to `New' from the moment the key is switched; hooks only
%% one of the two implements are added or removed after.
switch(Old, #exhook_driver{key = Key} = New, Priority) ->
    persistent_term:put(Key, New),
    OldHooks = emqx_extension_hook_driver:hooks(Old),
    NewHooks = emqx_extension_hook_driver:hooks(New),
    register_hooks(New, NewHooks -- OldHooks, Priority),
    [unhook(Old, H) || H <- OldHooks -- NewHooks],
    ok.

register_hooks(Driver, Hooks, Priority) ->
    Results = [{P, emqx_extension_hook_emqx:hook(P, mfa(Driver, H), Priority)}
               || H = #{point := P} <- Hooks],
    case [{P, R} || {P, R} <- Results, R =/= ok] of
        [] -> ok;
        [{_, {error, broker_not_running}} | _] ->
            logger:warning("exhook driver ~ts: no broker running, its hooks are not registered",
                           [Driver#exhook_driver.name]);
        Failed ->
            logger:error("exhook driver ~ts: hooks not registered: ~0p",
                         [Driver#exhook_driver.name, Failed])
    end.

unhook(Driver, #{point := P} = Hook) ->
    emqx_extension_hook_emqx:unhook(P, mfa(Driver, Hook)).

mfa(#exhook_driver{key = Key}, #{callback := F}) ->
    {?CALLBACKS, F, [Key]}.

points(Driver) ->
    [P || #{point := P} <- emqx_extension_hook_driver:hooks(Driver)].

%%--------------------------------------------------------------------
%% Reading

infos(#{enabled := Enabled, errors := Errors} = State) ->
    [info(Name, Config, maps:find(Name, Enabled), maps:find(Name, Errors))
     || {Name, Config} <- configured(State)].

info(Name, Config, Found, Error) ->
    Base = case Config of
               {ok, Opts} -> maps:with([kind, transport, path, optional], Opts);
               {error, _} -> #{}
           end,
    WithError = case Error of
                    {ok, Reason} -> Base#{error => Reason};
                    error -> Base
                end,
    case Found of
        {ok, #entry{driver = D}} ->
            WithError#{name => Name, enabled => true, hooks => points(D),
                       modes => maps:from_list([{P, element(I + 1, D#exhook_driver.modes)}
                                                || #{point := P, index := I}
                                                       <- emqx_extension_hook_driver:hooks(D)])};
        error ->
            WithError#{name => Name, enabled => false, hooks => []}
    end.

%% Configured drivers in config order, then the enabled ones whose config
%% has gone since.
configured(#{enabled := Enabled}) ->
    Drivers = emqx_extension_hook_config:drivers(),
    Drivers ++ [{Name, {ok, Opts}} || {Name, #entry{opts = Opts}} <- maps:to_list(Enabled),
                                       not lists:keymember(Name, 1, Drivers)].

in_config_order(#{enabled := Enabled} = State) ->
    [{Name, E} || {Name, _} <- configured(State), {ok, E} <- [maps:find(Name, Enabled)]].

optional({ok, #{optional := Optional}}) -> Optional;
optional({error, _}) -> false.

driver_stats(Name, Driver) ->
    (emqx_extension_hook_driver:stats(Driver))#{name => Name,
                                                log_dropped => emqx_extension_hook_log:dropped(Name)}.

name(N) when is_binary(N) -> N;
name(N) when is_atom(N) -> atom_to_binary(N, utf8);
name(N) when is_list(N) -> unicode:characters_to_binary(N).
