%% Handlers log through the broker's logger: records of the `log' crate
%% (and what a handler method prints) reach OTP logger at their level with
%% the driver, the hook and the clientid as metadata; records below the
%% broker's level are filtered at the source, and the broker's level is
%% followed when it changes; a burst larger than the queue is counted and
%% never blocks the broker's callbacks. On both transports.
-module(emqx_extension_hook_log_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-compile([export_all, nowarn_export_all]).

all() ->
    [{group, nif}, {group, port}].

groups() ->
    Cases = [records_at_each_level_reach_the_logger_with_metadata,
             records_below_the_broker_level_are_filtered,
             a_change_of_the_broker_level_is_followed,
             records_from_a_thread_of_the_handler_arrive,
             printed_lines_reach_the_logger_at_info_and_warning,
             a_burst_larger_than_the_queue_is_counted_and_never_blocks],
    [{nif, [], Cases}, {port, [], Cases}].

init_per_suite(Config) ->
    ok = exhook_broker:start(),
    Level = maps:get(level, logger:get_primary_config()),
    [{primary_level, Level} | Config].

end_per_suite(Config) ->
    logger:set_primary_config(level, ?config(primary_level, Config)),
    exhook_broker:stop().

init_per_group(Transport, Config) ->
    exhook_test_plugin:set_transport(Transport),
    [{transport, Transport} | Config].

end_per_group(_, _Config) ->
    exhook_test_plugin:set_transport(nif).

init_per_testcase(_Case, Config) ->
    exhook_log_capture:install(),
    Config.

end_per_testcase(_Case, Config) ->
    exhook_test_plugin:stop(),
    exhook_log_capture:uninstall(),
    logger:set_primary_config(level, ?config(primary_level, Config)).

%%--------------------------------------------------------------------
%% Helpers

%% The recorder as driver `rec' (one handler process on the Port
%% transport, so its records come in order), with the broker's level at
%% `Level' when it starts.
start(Config, Level) ->
    start(Config, Level, []).

start(Config, Level, Extra) ->
    ok = logger:set_primary_config(level, Level),
    {Rec, _} = exhook_test_plugin:recorder(Config, [{pool_size, 1} | Extra]),
    exhook_test_plugin:start([Rec]).

login(ClientId) ->
    Client = (hd(exhook_samples:args('client.authenticate')))#{clientid => ClientId},
    exhook_broker:authenticate(Client, true).

connected(ClientId) ->
    [ClientInfo, ConnInfo] = exhook_samples:args('client.connected'),
    exhook_broker:notify('client.connected', [ClientInfo#{clientid => ClientId}, ConnInfo]).

%% The events whose text contains `Part'.
with(Part, Events) ->
    [E || {_, Text, _} = E <- Events, binary:match(Text, Part) =/= nomatch].

%%--------------------------------------------------------------------
%% Cases

records_at_each_level_reach_the_logger_with_metadata(Config) ->
    start(Config, debug),
    {ok, _} = login(<<"log-levels">>),
    Events = exhook_log_capture:await(
               fun(E) -> length(with(<<"from log-levels">>, E)) >= 5 end, five_records),
    Got = [{L, T} || {L, T, _} <- with(<<"from log-levels">>, Events)],
    ?assertEqual([{error, <<"exhook driver rec: error from log-levels">>},
                  {warning, <<"exhook driver rec: warning from log-levels">>},
                  {info, <<"exhook driver rec: info from log-levels">>},
                  {debug, <<"exhook driver rec: debug from log-levels">>},
                  {debug, <<"exhook driver rec: trace from log-levels">>}], Got),
    [?assertMatch(#{exhook_driver := <<"rec">>, exhook_hook := <<"client.authenticate">>,
                    clientid := <<"log-levels">>}, Meta)
     || {_, _, Meta} <- with(<<"from log-levels">>, Events)].

records_below_the_broker_level_are_filtered(Config) ->
    start(Config, warning),
    {ok, _} = login(<<"log-filtered">>),
    %% A later call's records show the earlier ones had their chance to
    %% arrive (one handler, records in order).
    {ok, _} = login(<<"log-marker">>),
    _ = exhook_log_capture:await(fun(E) -> length(with(<<"from log-marker">>, E)) >= 2 end, marker),
    ?assertEqual([error, warning],
                 [L || {L, _, _} <- with(<<"from log-filtered">>, exhook_log_capture:events())]).

a_change_of_the_broker_level_is_followed(Config) ->
    start(Config, warning),
    {ok, _} = login(<<"log-before">>),
    _ = exhook_log_capture:await(fun(E) -> length(with(<<"from log-before">>, E)) >= 2 end, before),
    ok = logger:set_primary_config(level, debug),
    %% The plugin looks at the broker's level once a second.
    Events = exhook_log_capture:await(
               fun(E) ->
                       {ok, _} = login(<<"log-after">>),
                       lists:member(debug, [L || {L, _, _} <- with(<<"from log-after">>, E)])
               end, debug_after_change, 150),
    ?assertEqual([error, warning], [L || {L, _, _} <- with(<<"from log-before">>, Events)]).

records_from_a_thread_of_the_handler_arrive(Config) ->
    start(Config, info),
    {ok, _} = login(<<"logthread-1">>),
    [{info, _, Meta}] = with(<<"from a thread of logthread-1">>,
                             exhook_log_capture:await(
                               fun(E) -> with(<<"from a thread of logthread-1">>, E) =/= [] end,
                               thread_record)),
    %% Outside a hook call: the driver is known, the hook and client not.
    ?assertMatch(#{exhook_driver := <<"rec">>}, Meta),
    ?assertNot(maps:is_key(exhook_hook, Meta)).

printed_lines_reach_the_logger_at_info_and_warning(Config) ->
    start(Config, info),
    ok = connected(<<"print-1">>),
    Events = exhook_log_capture:await(
               fun(E) -> with(<<"printed by print-1">>, E) =/= [] andalso
                             with(<<"eprinted by print-1">>, E) =/= [] end, printed),
    ?assertMatch([{info, _, #{exhook_hook := <<"client.connected">>, clientid := <<"print-1">>}}],
                 with(<<": printed by print-1">>, Events)),
    ?assertMatch([{warning, _, _}], with(<<"eprinted by print-1">>, Events)).

a_burst_larger_than_the_queue_is_counted_and_never_blocks(Config) ->
    start(Config, info, [{call_timeout, 2000}]),
    %% 100 000 records in one call: far more than the queue holds.
    T0 = erlang:monotonic_time(millisecond),
    {ok, _} = login(<<"logburst-100000">>),
    Took = erlang:monotonic_time(millisecond) - T0,
    ct:log("a call logging 100 000 records took ~b ms", [Took]),
    %% The callback answered in time: the handler's own answer, not the policy.
    ?assert(Took < 2000),
    %% Other calls are answered meanwhile.
    {ok, _} = login(<<"after-burst">>),
    %% The overflow is counted in the stats and reported once.
    [#{log_dropped := Dropped}] = wait_dropped(),
    ?assert(Dropped > 0),
    Reports = exhook_log_capture:await(fun(E) -> with(<<"were dropped">>, E) =/= [] end, report),
    [{warning, _, _} | _] = with(<<"were dropped">>, Reports),
    Arrived = length(with(<<"from logburst-100000">>, exhook_log_capture:events())),
    ct:log("dropped ~b, arrived ~b", [Dropped, Arrived]),
    ?assert(Arrived < 100000).

wait_dropped() ->
    wait_dropped(500).

wait_dropped(0) ->
    ct:fail(no_drops_counted);
wait_dropped(Tries) ->
    case emqx_extension_hook:stats() of
        [#{log_dropped := N}] = Stats when N > 0 -> Stats;
        _ -> timer:sleep(20), wait_dropped(Tries - 1)
    end.
