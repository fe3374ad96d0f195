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
cli(["drivers", "reload", Name]) ->
    result(Name, "reloaded", emqx_extension_hook_drivers:reload(Name));
cli(["drivers", "stats"]) ->
    lists:foreach(fun print_stats/1, emqx_extension_hook_drivers:stats());
cli(_) ->
    emqx_extension_hook_emqx:usage(
      [{"exhook drivers list", "List the configured drivers and their hooks"},
       {"exhook drivers enable <Name>", "Enable a driver"},
       {"exhook drivers disable <Name>", "Disable a driver"},
       {"exhook drivers reload <Name>", "Replace a driver by a new instance from its config (picks up a rebuilt library), losing no call"},
       {"exhook drivers stats", "Calls, failures, timeouts, queue depth and latency by driver and hook"}]).

print_stats(#{name := Name, transport := Transport, queue_depth := Depth,
              restarts := Restarts, log_dropped := LogDropped, hooks := Hooks} = Stats) ->
    emqx_extension_hook_emqx:print("Driver(~ts, ~ts, queued=~b, restarts=~b, log_dropped=~b)~n",
                                   [Name, Transport, Depth, Restarts, LogDropped]),
    case maps:get(handler, Stats, []) of
        [] -> ok;
        Own -> emqx_extension_hook_emqx:print("  handler: ~ts~n",
                                              [lists:join(" ", [io_lib:format("~ts=~b", [K, V])
                                                               || {K, V} <- Own])])
    end,
    [emqx_extension_hook_emqx:print(
       "  ~-22ts calls=~b succeeded=~b failed=~b timed_out=~b dropped=~b saturated=~b "
       "overran=~b queued=~b p50=~.1fus p99=~.1fus~n",
       [Hook, C, S, F, T, D, maps:get(saturated, Counters, 0), O, Q, P50, P99])
     || {Hook, #{calls := C, succeeded := S, failed := F, timed_out := T, dropped := D,
                 overran := O, queued := Q, p50_us := P50, p99_us := P99} = Counters} <- Hooks],
    ok.

print_driver(#{name := Name, enabled := Enabled, hooks := Hooks} = Info) ->
    State = case Enabled of
                true -> "enabled";
                false -> "disabled"
            end,
    emqx_extension_hook_emqx:print("Driver(~ts, ~ts, path=~ts, hooks=~0p)~n",
                                   [Name, State, maps:get(path, Info, ""), Hooks]),
    case Info of
        #{error := Reason} ->
            emqx_extension_hook_emqx:print("  error: ~ts~n",
                                           [emqx_extension_hook_errors:text(Name, Reason)]);
        _ ->
            ok
    end.

result(Name, Done, ok) ->
    emqx_extension_hook_emqx:print("Driver ~ts ~ts~n", [Name, Done]);
result(Name, _Done, {error, Reason}) ->
    Bin = unicode:characters_to_binary(Name),
    emqx_extension_hook_emqx:print("Driver ~ts: ~ts~n",
                                   [Name, emqx_extension_hook_errors:text(Bin, Reason)]).
