%% A logger handler for the tests: keeps every event of the handlers' log
%% (domain [emqx_extension_hook, handler]) in a table, as
%% {Seq, Level, Text, Metadata}.
-module(exhook_log_capture).

-export([install/0, uninstall/0, events/0, await/2, await/3, log/2]).

-define(TAB, ?MODULE).
-define(ID, exhook_log_capture).

install() ->
    uninstall(),
    Heir = whereis(init),
    ets:new(?TAB, [named_table, public, ordered_set, {heir, Heir, none}]),
    ok = logger:add_handler(?ID, ?MODULE, #{level => all}).

uninstall() ->
    _ = logger:remove_handler(?ID),
    case ets:whereis(?TAB) of
        undefined -> ok;
        _ -> ets:delete(?TAB), ok
    end.

%% Every event so far: [{Level, Text, Metadata}].
events() ->
    [{L, T, M} || {_, L, T, M} <- ets:tab2list(?TAB)].

%% Waits (up to 10 s) until `Pred(Events)' holds; the events then.
await(Pred, What) ->
    await(Pred, What, 500).

await(_Pred, What, 0) ->
    error({log_not_seen, What, events()});
await(Pred, What, Tries) ->
    Events = events(),
    case Pred(Events) of
        true -> Events;
        false -> timer:sleep(20), await(Pred, What, Tries - 1)
    end.

log(#{level := Level, msg := Msg, meta := Meta}, _Config) ->
    case Meta of
        #{domain := [emqx_extension_hook, handler | _]} ->
            Text = case Msg of
                       {string, S} -> unicode:characters_to_binary(S);
                       {report, R} -> unicode:characters_to_binary(io_lib:format("~0p", [R]));
                       {Format, Args} -> unicode:characters_to_binary(io_lib:format(Format, Args))
                   end,
            catch ets:insert(?TAB, {erlang:unique_integer([monotonic]), Level, Text, Meta}),
            ok;
        _ ->
            ok
    end.
