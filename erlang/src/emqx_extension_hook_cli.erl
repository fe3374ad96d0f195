%% @doc `emqx_ctl exhook ...', as the original plugin had it.
-module(emqx_extension_hook_cli).

-export([cli/1]).

%% @doc Runs one `emqx_ctl exhook' command.
-spec cli([string()]) -> ok.
cli(["drivers", "list"]) ->
    lists:foreach(fun print_driver/1, emqx_extension_hook_drivers:list());
cli(["drivers", "enable", Name]) ->
    result(Name, "enabled", emqx_extension_hook_drivers:enable(Name));
cli(["drivers", "disable", Name]) ->
    result(Name, "disabled", emqx_extension_hook_drivers:disable(Name));
cli(_) ->
    emqx_extension_hook_emqx:usage(
      [{"exhook drivers list", "List the configured drivers and their hooks"},
       {"exhook drivers enable <Name>", "Enable a driver"},
       {"exhook drivers disable <Name>", "Disable a driver"}]).

print_driver(#{name := Name, enabled := Enabled, hooks := Hooks} = Info) ->
    State = case {Enabled, Info} of
                {true, _} -> "enabled";
                {false, #{error := Reason}} -> io_lib:format("invalid: ~0p", [Reason]);
                {false, _} -> "disabled"
            end,
    emqx_extension_hook_emqx:print("Driver(~ts, ~ts, path=~ts, hooks=~0p)~n",
                                   [Name, State, maps:get(path, Info, ""), Hooks]).

result(Name, Done, ok) ->
    emqx_extension_hook_emqx:print("Driver ~ts ~ts~n", [Name, Done]);
result(Name, _Done, {error, Reason}) ->
    emqx_extension_hook_emqx:print("Driver ~ts: error ~0p~n", [Name, Reason]).
