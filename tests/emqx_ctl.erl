%% Test stand-in for EMQX 4.4's `emqx_ctl': commands are registered in a
%% table, and `run/1' calls one as `emqx_ctl CMD ARGS...' would, returning
%% what it printed.
-module(emqx_ctl).

-export([register_command/3, unregister_command/1, print/2, usage/1, run/1, registered/0]).

-define(TAB, emqx_ctl_standin).

register_command(Cmd, {M, F}, _Opts) ->
    ensure_table(),
    ets:insert(?TAB, {Cmd, {M, F}}),
    ok.

unregister_command(Cmd) ->
    ensure_table(),
    ets:delete(?TAB, Cmd),
    ok.

registered() ->
    ensure_table(),
    [Cmd || {Cmd, _} <- ets:tab2list(?TAB)].

print(Format, Args) ->
    Out = io_lib:format(Format, Args),
    put(emqx_ctl_output, [get_output(), Out]),
    ok.

usage(Commands) ->
    [print("~ts  # ~ts~n", [Cmd, Desc]) || {Cmd, Desc} <- Commands],
    ok.

%% Runs `emqx_ctl Cmd Args...' in this process; the printed text.
run([Cmd | Args]) ->
    ensure_table(),
    put(emqx_ctl_output, []),
    case ets:lookup(?TAB, list_to_existing_atom(Cmd)) of
        [{_, {M, F}}] -> M:F(Args);
        [] -> print("Command ~ts not found~n", [Cmd])
    end,
    lists:flatten(io_lib:format("~ts", [get_output()])).

get_output() ->
    case get(emqx_ctl_output) of
        undefined -> [];
        Out -> Out
    end.

ensure_table() ->
    case ets:whereis(?TAB) of
        undefined ->
            Heir = whereis(init),
            ets:new(?TAB, [named_table, public, {heir, Heir, none}]);
        _ ->
            ok
    end.
