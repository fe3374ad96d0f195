%% @doc A stand-in for EMQX 4.4's `emqx_metrics' in the benchmark VM, as
%% costly per call as the real one: `inc/1,2' look up the metric's index
%% in a read-concurrent ETS table and add to a `counters' array kept in a
%% persistent term. The plugin adds its calls to it once a second, as it
%% does in EMQX.
-module(emqx_metrics).

-export([ensure/1, inc/1, inc/2, val/1]).

-define(TAB, emqx_metrics_bench).
-define(CREF, {?MODULE, counters}).
-define(SIZE, 1024).

-spec ensure(atom()) -> ok.
ensure(Name) ->
    table(),
    Next = ets:info(?TAB, size) + 1,
    _ = ets:insert_new(?TAB, {Name, Next}),
    ok.

-spec inc(atom()) -> ok.
inc(Name) ->
    inc(Name, 1).

-spec inc(atom(), pos_integer()) -> ok.
inc(Name, N) ->
    [{_, Idx}] = ets:lookup(?TAB, Name),
    counters:add(persistent_term:get(?CREF), Idx, N).

-spec val(atom()) -> non_neg_integer().
val(Name) ->
    [{_, Idx}] = ets:lookup(?TAB, Name),
    counters:get(persistent_term:get(?CREF), Idx).

table() ->
    case ets:whereis(?TAB) of
        undefined ->
            persistent_term:put(?CREF, counters:new(?SIZE, [write_concurrency])),
            ets:new(?TAB, [named_table, public, {read_concurrency, true}, {heir, whereis(init), none}]);
        Tab ->
            Tab
    end.
