%% Test stand-in for EMQX 4.4's hook registry and runner (emqx_hooks.erl),
%% following its semantics exactly, because the plugin's correctness
%% depends on them:
%%
%% - callbacks run by priority, highest first; equal priorities in the
%%   order they were added;
%% - adding an action already registered on the point (the same
%%   `{M, F, Args}') is `{error, already_exists}';
%% - `del/2' is asynchronous (a cast, as in EMQX): a callback may still be
%%   called just after it returns; `{M, F}' removes every `{M, F, _}';
%% - run_fold: `{ok, Acc}' continues with Acc, `{stop, Acc}' ends with Acc,
%%   `stop' ends with the current Acc, anything else continues unchanged;
%% - run: `stop' ends the chain, anything else continues;
%% - a callback that raises is logged and the chain continues.
-module(emqx_hooks).

-behaviour(gen_server).

-export([start_link/0, stop/0, add/2, add/3, add/4, del/2, run/2, run_fold/3, lookup/1]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2]).

-record(callback, {action, filter, priority}).

-define(TAB, ?MODULE).

start_link() ->
    gen_server:start({local, ?MODULE}, ?MODULE, [], []).

stop() ->
    gen_server:stop(?MODULE).

add(HookPoint, Callback) when is_record(Callback, callback) ->
    gen_server:call(?MODULE, {add, HookPoint, Callback}, infinity);
add(HookPoint, Action) when is_function(Action); is_tuple(Action) ->
    add(HookPoint, #callback{action = Action, priority = 0}).

add(HookPoint, Action, InitArgs) when is_function(Action), is_list(InitArgs) ->
    add(HookPoint, #callback{action = {Action, InitArgs}, priority = 0});
add(HookPoint, Action, Filter) when is_function(Filter); is_tuple(Filter) ->
    add(HookPoint, #callback{action = Action, filter = Filter, priority = 0});
add(HookPoint, Action, Priority) when is_integer(Priority) ->
    add(HookPoint, #callback{action = Action, priority = Priority}).

add(HookPoint, Action, Filter, Priority) when is_integer(Priority) ->
    add(HookPoint, #callback{action = Action, filter = Filter, priority = Priority}).

del(HookPoint, Action) ->
    gen_server:cast(?MODULE, {del, HookPoint, Action}).

run(HookPoint, Args) ->
    do_run(lookup(HookPoint), Args).

run_fold(HookPoint, Args, Acc) ->
    do_run_fold(lookup(HookPoint), Args, Acc).

%% The registered actions of `HookPoint', in run order.
lookup(HookPoint) ->
    case ets:whereis(?TAB) =/= undefined andalso ets:lookup(?TAB, HookPoint) of
        [{_, Callbacks}] -> Callbacks;
        _ -> []
    end.

do_run([#callback{action = Action, filter = Filter} | Callbacks], Args) ->
    case filter_passed(Filter, Args) andalso safe_execute(Action, Args) of
        stop -> ok;
        _ -> do_run(Callbacks, Args)
    end;
do_run([], _Args) ->
    ok.

do_run_fold([#callback{action = Action, filter = Filter} | Callbacks], Args, Acc) ->
    Args1 = Args ++ [Acc],
    case filter_passed(Filter, Args1) andalso safe_execute(Action, Args1) of
        stop -> Acc;
        {stop, NewAcc} -> NewAcc;
        {ok, NewAcc} -> do_run_fold(Callbacks, Args, NewAcc);
        _ -> do_run_fold(Callbacks, Args, Acc)
    end;
do_run_fold([], _Args, Acc) ->
    Acc.

filter_passed(undefined, _Args) -> true;
filter_passed(Filter, Args) -> execute(Filter, Args).

safe_execute(Fun, Args) ->
    try execute(Fun, Args)
    catch
        _:Reason:Stacktrace ->
            logger:error("Failed to execute ~0p: ~0p", [Fun, {Reason, Stacktrace}]),
            ok
    end.

execute(Fun, Args) when is_function(Fun) -> erlang:apply(Fun, Args);
execute({Fun, InitArgs}, Args) when is_function(Fun) -> erlang:apply(Fun, Args ++ InitArgs);
execute({M, F, A}, Args) -> erlang:apply(M, F, Args ++ A).

init([]) ->
    ets:new(?TAB, [named_table, protected, {read_concurrency, true}]),
    {ok, #{}}.

handle_call({add, HookPoint, Callback = #callback{action = Action}}, _From, State) ->
    Callbacks = lookup(HookPoint),
    Reply = case lists:keymember(Action, #callback.action, Callbacks) of
                true -> {error, already_exists};
                false -> insert(HookPoint, add_callback(Callback, Callbacks))
            end,
    {reply, Reply, State}.

handle_cast({del, HookPoint, Action}, State) ->
    case del_callback(Action, lookup(HookPoint)) of
        [] -> ets:delete(?TAB, HookPoint);
        Callbacks -> insert(HookPoint, Callbacks)
    end,
    {noreply, State}.

handle_info(_Info, State) ->
    {noreply, State}.

insert(HookPoint, Callbacks) ->
    ets:insert(?TAB, {HookPoint, Callbacks}),
    ok.

add_callback(C, Callbacks) -> add_callback(C, Callbacks, []).

add_callback(C, [], Acc) ->
    lists:reverse([C | Acc]);
add_callback(C1 = #callback{priority = P1}, [C2 = #callback{priority = P2} | More], Acc)
  when P1 =< P2 ->
    add_callback(C1, More, [C2 | Acc]);
add_callback(C1, More, Acc) ->
    lists:append(lists:reverse(Acc), [C1 | More]).

del_callback(Action, Callbacks) -> del_callback(Action, Callbacks, []).

del_callback(_Action, [], Acc) ->
    lists:reverse(Acc);
del_callback(Action, [#callback{action = Action} | Callbacks], Acc) ->
    del_callback(Action, Callbacks, Acc);
del_callback(Action = {M, F}, [#callback{action = {M, F, _A}} | Callbacks], Acc) ->
    del_callback(Action, Callbacks, Acc);
del_callback(Func, [#callback{action = {Func, _A}} | Callbacks], Acc) ->
    del_callback(Func, Callbacks, Acc);
del_callback(Action, [Callback | Callbacks], Acc) ->
    del_callback(Action, Callbacks, [Callback | Acc]).
