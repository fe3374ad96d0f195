%% @doc The driver registry: enables the configured drivers at start,
%% enables and disables them on request, and registers with the broker
%% exactly the hooks each enabled driver's handler implements.
%%
%% Drivers are asked in config order: the first configured driver hooks
%% each point at the highest priority, so its decision wins, and a
%% disable and enable again keeps that order.
-module(emqx_extension_hook_drivers).

-behaviour(gen_server).

-include("emqx_extension_hook.hrl").

-export([start_link/0, enable/1, disable/1, reload/1, list/0, lookup/1, callbacks/1, stats/0]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).

-define(SERVER, ?MODULE).

-type info() :: #{name := binary(), enabled := boolean(), hooks := [atom()],
                  path => string(), init_module => module(), error => term()}.
-type stats() :: #{name := binary(), transport := nif | port,
                   queue_depth := non_neg_integer(), restarts := non_neg_integer(),
                   hooks := [{atom(), #{atom() => number()}}]}.
-export_type([info/0, stats/0]).

-record(enabled, {driver :: #exhook_driver{},
                  hooks :: [emqx_extension_hook_hooks:hook()],
                  opts :: emqx_extension_hook_config:opts()}).
-type state() :: #{binary() => #enabled{}}.

%% @doc Starts the registry, which enables every configured driver.
-spec start_link() -> {ok, pid()} | {error, term()}.
start_link() ->
    gen_server:start_link({local, ?SERVER}, ?MODULE, [], []).

%% @doc Enables configured driver `Name': loads its library, runs its
%% handler's init, hooks what it implements.
-spec enable(binary() | string() | atom()) -> ok | {error, term()}.
enable(Name) ->
    gen_server:call(?SERVER, {enable, name(Name)}, infinity).

%% @doc Disables driver `Name': unhooks it, runs its handler's deinit,
%% unloads its library.
-spec disable(binary() | string() | atom()) -> ok | {error, term()}.
disable(Name) ->
    gen_server:call(?SERVER, {disable, name(Name)}, infinity).

%% @doc Disables driver `Name' and enables it again from its config: picks
%% up a rebuilt library at the same path.
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

%% @doc The record the broker callbacks of enabled driver `Name' carry.
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
    Enabled = lists:foldl(fun start_configured/2, #{}, emqx_extension_hook_config:drivers()),
    {ok, Enabled}.

start_configured({Name, Opts}, Enabled) ->
    case do_enable(Name, Opts, Enabled) of
        {ok, Enabled1} ->
            Enabled1;
        {error, Reason} ->
            logger:error("exhook driver ~ts not enabled: ~0p", [Name, Reason]),
            Enabled
    end.

-spec handle_call(term(), gen_server:from(), state()) -> {reply, term(), state()}.
handle_call({enable, Name}, _From, Enabled) ->
    case do_enable(Name, emqx_extension_hook_config:driver(Name), Enabled) of
        {ok, Enabled1} -> {reply, ok, Enabled1};
        {error, _} = E -> {reply, E, Enabled}
    end;
handle_call({disable, Name}, _From, Enabled) ->
    case maps:take(Name, Enabled) of
        {Entry, Enabled1} -> {reply, do_disable(Entry), Enabled1};
        error -> {reply, {error, not_enabled}, Enabled}
    end;
handle_call({reload, Name}, _From, Enabled) ->
    case maps:take(Name, Enabled) of
        {Entry, Enabled1} ->
            ok = do_disable(Entry),
            case do_enable(Name, emqx_extension_hook_config:driver(Name), Enabled1) of
                {ok, Enabled2} -> {reply, ok, Enabled2};
                {error, _} = E -> {reply, E, Enabled1}
            end;
        error ->
            {reply, {error, not_enabled}, Enabled}
    end;
handle_call(stats, _From, Enabled) ->
    {reply, [driver_stats(Name, D, Hooks)
             || {Name, #enabled{driver = D, hooks = Hooks}} <- in_config_order(Enabled)],
     Enabled};
handle_call(list, _From, Enabled) ->
    {reply, infos(Enabled), Enabled};
handle_call({lookup, Name}, _From, Enabled) ->
    case Enabled of
        #{Name := #enabled{driver = D}} -> {reply, {ok, D}, Enabled};
        _ -> {reply, {error, not_enabled}, Enabled}
    end;
handle_call({callbacks, Name}, _From, Enabled) ->
    case Enabled of
        #{Name := #enabled{driver = D, hooks = Hooks}} ->
            {reply, {ok, [{P, mfa(D, H)} || H = #{point := P} <- Hooks]}, Enabled};
        _ ->
            {reply, {error, not_enabled}, Enabled}
    end;
handle_call(Request, _From, Enabled) ->
    {reply, {error, {unknown_call, Request}}, Enabled}.

-spec handle_cast(term(), state()) -> {noreply, state()}.
handle_cast(_Msg, Enabled) ->
    {noreply, Enabled}.

-spec handle_info(term(), state()) -> {noreply, state()}.
handle_info(_Info, Enabled) ->
    {noreply, Enabled}.

-spec terminate(term(), state()) -> ok.
terminate(_Reason, Enabled) ->
    maps:foreach(fun(_Name, Entry) -> do_disable(Entry) end, Enabled).

do_enable(Name, _Opts, Enabled) when is_map_key(Name, Enabled) ->
    {error, already_enabled};
do_enable(_Name, {error, _} = E, _Enabled) ->
    E;
do_enable(Name, {ok, #{init_module := M} = Opts}, Enabled) ->
    case module_in_use(M, Enabled) orelse emqx_extension_hook_driver:load(Name, Opts) of
        true ->
            {error, {init_module_in_use, M}};
        {ok, Driver, Hooks} ->
            register_hooks(Driver, Hooks, maps:get(priority, Opts)),
            logger:info("exhook driver ~ts enabled: ~p", [Name, [P || #{point := P} <- Hooks]]),
            {ok, Enabled#{Name => #enabled{driver = Driver, hooks = Hooks, opts = Opts}}};
        {error, _} = E ->
            E
    end.

module_in_use(M, Enabled) ->
    lists:any(fun(#enabled{driver = #exhook_driver{module = Used}}) -> Used =:= M end,
              maps:values(Enabled)).

do_disable(#enabled{driver = Driver, hooks = Hooks}) ->
    [unhook(Driver, H) || H <- Hooks],
    emqx_extension_hook_driver:unload(Driver),
    %% The VM unloads the library once the last reference to the driver's
    %% resource is collected; this process held one until now.
    erlang:garbage_collect(),
    logger:info("exhook driver ~ts disabled", [Driver#exhook_driver.name]),
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

unhook(#exhook_driver{module = M}, #{point := P, callback := F}) ->
    emqx_extension_hook_emqx:unhook(P, {M, F}).

mfa(#exhook_driver{module = M} = Driver, #{callback := F}) ->
    {M, F, [Driver]}.

infos(Enabled) ->
    Drivers = emqx_extension_hook_config:drivers(),
    Configured = [info(Name, Config, maps:find(Name, Enabled)) || {Name, Config} <- Drivers],
    Unconfigured = [info(Name, {ok, E#enabled.opts}, {ok, E})
                    || {Name, E} <- unconfigured(Enabled, Drivers)],
    Configured ++ Unconfigured.

%% Enabled drivers whose config has gone since they were enabled.
unconfigured(Enabled, Drivers) ->
    [{Name, E} || {Name, E} <- maps:to_list(Enabled), not lists:keymember(Name, 1, Drivers)].

info(Name, {ok, Opts}, Found) ->
    Base = #{name => Name, path => maps:get(path, Opts),
             init_module => maps:get(init_module, Opts)},
    case Found of
        {ok, #enabled{hooks = Hooks}} ->
            Base#{enabled => true, hooks => [P || #{point := P} <- Hooks]};
        error ->
            Base#{enabled => false, hooks => []}
    end;
info(Name, {error, Reason}, _Found) ->
    #{name => Name, enabled => false, hooks => [], error => Reason}.

driver_stats(Name, #exhook_driver{transport = {port, T}}, Hooks) ->
    {Restarts, Rows} = emqx_extension_hook_port:stats(T, [I || #{index := I} <- Hooks]),
    Points = maps:from_list([{I, P} || #{index := I, point := P} <- Hooks]),
    #{name => Name, transport => port, queue_depth => 0, restarts => Restarts,
      hooks => [{maps:get(I, Points), Counters} || {I, Counters} <- Rows]};
driver_stats(Name, #exhook_driver{module = M, resource = R}, _Hooks) ->
    Rows = [{binary_to_existing_atom(Hook, utf8), Counters} || {Hook, Counters} <- M:driver_stats(R)],
    #{name => Name, transport => nif, queue_depth => M:driver_queue_depth(R), restarts => 0,
      hooks => Rows}.

%% Enabled drivers in config order, then those no longer configured.
in_config_order(Enabled) ->
    Drivers = emqx_extension_hook_config:drivers(),
    [{Name, E} || {Name, _} <- Drivers, {ok, E} <- [maps:find(Name, Enabled)]]
        ++ unconfigured(Enabled, Drivers).

name(N) when is_binary(N) -> N;
name(N) when is_atom(N) -> atom_to_binary(N, utf8);
name(N) when is_list(N) -> unicode:characters_to_binary(N).
