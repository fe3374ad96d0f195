%% Test stand-in for EMQX 4.4's `emqx_metrics': named counters that must
%% be created (`ensure/1') before `inc/1', as in EMQX, where incrementing
%% an unknown metric raises.
-module(emqx_metrics).

-export([ensure/1, inc/1, inc/2, val/1, all/0]).

-define(TAB, emqx_metrics_standin).

ensure(Name) when is_atom(Name) ->
    table(),
    ets:insert_new(?TAB, {Name, 0}),
    ok.

inc(Name) ->
    inc(Name, 1).

inc(Name, N) ->
    ets:update_counter(?TAB, Name, N),
    ok.

val(Name) ->
    case ets:lookup(table(), Name) of
        [{_, V}] -> V;
        [] -> 0
    end.

all() ->
    ets:tab2list(table()).

table() ->
    case ets:whereis(?TAB) of
        undefined -> ets:new(?TAB, [named_table, public, {write_concurrency, true},
                                    {heir, whereis(init), none}]);
        Tab -> Tab
    end.
