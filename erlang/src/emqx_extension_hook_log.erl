%% @doc Handlers' log records, into the broker's logger (OTP `logger', so
%% `emqx.log' in EMQX).
%%
%% A handler library sends its records here in batches (NIF transport); a
%% handler process sends them as `{log, Level, Text, Meta}' frames, which
%% its port server passes to `emit/4' (Port transport). Each record is
%% logged at its level with the driver, the hook and the clientid as
%% metadata. A library's queue that overflowed reports how many records it
%% dropped; the count is kept per driver for `exhook drivers stats'.
%%
%% Libraries filter records below the broker's level before formatting
%% them; this process follows the primary logger level (`emqx_ctl log
%% set-level') and has the registry push a change to every driver.
-module(emqx_extension_hook_log).

-behaviour(gen_server).

-export([start_link/0, emit/4, level/0, dropped/1]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2]).

-define(SERVER, ?MODULE).
-define(DROPPED, emqx_extension_hook_log_dropped).
%% How often the broker's level is looked at.
-define(LEVEL_POLL_MS, 1000).

-type level() :: debug | info | notice | warning | error.

%% @doc Starts the log process, registered under its module name.
-spec start_link() -> {ok, pid()} | {error, term()}.
start_link() ->
    gen_server:start_link({local, ?SERVER}, ?MODULE, [], []).

%% @doc Logs one record of driver `Driver' (a handler's `log' record, or a
%% line it printed); `Meta' may hold `hook', `clientid', `target' (text)
%% and `dropped' (the count a full queue's report carries).
-spec emit(binary(), level(), unicode:chardata(), map()) -> ok.
emit(Driver, Level, Text, Meta) ->
    case maps:get(dropped, Meta, 0) of
        N when is_integer(N), N > 0 -> count_dropped(Driver, N);
        _ -> ok
    end,
    Metadata = maps:fold(fun(hook, V, M) when is_binary(V) -> M#{exhook_hook => V};
                            (clientid, V, M) when is_binary(V) -> M#{clientid => V};
                            (target, V, M) when is_binary(V) -> M#{exhook_target => V};
                            (_, _, M) -> M
                         end, #{domain => [emqx_extension_hook, handler], exhook_driver => Driver},
                         Meta),
    logger:log(valid_level(Level), "exhook driver ~ts: ~ts", [Driver, Text], Metadata).

%% @doc The broker's level: what handler libraries filter their records by.
-spec level() -> logger:level().
level() ->
    maps:get(level, logger:get_primary_config(), notice).

%% @doc How many log records driver `Driver''s handler dropped because its
%% queue was full.
-spec dropped(binary()) -> non_neg_integer().
dropped(Driver) ->
    try ets:lookup(?DROPPED, Driver) of
        [{_, N}] -> N;
        [] -> 0
    catch
        error:badarg -> 0
    end.

-spec init([]) -> {ok, logger:level()}.
init([]) ->
    _ = ets:new(?DROPPED, [named_table, public, {write_concurrency, true}]),
    erlang:send_after(?LEVEL_POLL_MS, self(), poll_level),
    {ok, level()}.

-spec handle_call(term(), gen_server:from(), logger:level()) -> {reply, ok, logger:level()}.
handle_call(_Request, _From, Level) ->
    {reply, ok, Level}.

-spec handle_cast(term(), logger:level()) -> {noreply, logger:level()}.
handle_cast(_Msg, Level) ->
    {noreply, Level}.

-spec handle_info(term(), logger:level()) -> {noreply, logger:level()}.
handle_info({exhook_log, Records}, Level) when is_list(Records) ->
    lists:foreach(fun emit_record/1, Records),
    {noreply, Level};
handle_info(poll_level, Level) ->
    erlang:send_after(?LEVEL_POLL_MS, self(), poll_level),
    case level() of
        Level -> {noreply, Level};
        New -> emqx_extension_hook_drivers:log_level_changed(New), {noreply, New}
    end;
handle_info(_Info, Level) ->
    {noreply, Level}.

%% A record a handler library sent: {Level, Text, Target, Driver, Hook,
%% ClientId, Dropped}, `undefined' where not known.
emit_record({Level, Text, Target, Driver, Hook, Client, Dropped}) ->
    Meta = maps:filter(fun(_, V) -> V =/= undefined end,
                       #{target => Target, hook => Hook, clientid => Client, dropped => Dropped}),
    emit(text(Driver), Level, Text, Meta);
emit_record(_) ->
    ok.

count_dropped(Driver, N) ->
    try ets:update_counter(?DROPPED, Driver, N, {Driver, 0})
    catch error:badarg -> ok
    end,
    ok.

valid_level(L) when L =:= debug; L =:= info; L =:= notice; L =:= warning; L =:= error -> L;
valid_level(_) -> info.

text(undefined) -> <<"?">>;
text(T) -> T.
