%% The plugin end to end: real EMQX 4.4.19 hook arguments go through the
%% broker stand-in's hook runner (EMQX's fold semantics), into the example
%% handlers' NIFs, and the decisions come back as the broker would apply
%% them.
-module(emqx_extension_hook_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").
-include_lib("emqx_extension_hook/include/emqx_extension_hook.hrl").

-compile([export_all, nowarn_export_all]).

-define(APP, emqx_extension_hook).

%% The decision groups run once per transport, with the same samples and
%% the same expected decisions; lifecycle is the NIF transport's (library
%% loading); port_recovery is the Port transport's.
all() ->
    [{group, nif}, {group, port}, {group, java}, {group, lifecycle}, {group, port_recovery},
     {group, java_recovery}].

groups() ->
    Decisions = [{group, custom_hook}, {group, gatekeeper}, {group, two_drivers},
                 {group, all_hooks}, {group, failures}],
    [{nif, [], Decisions ++ [{group, reloads}]},
     {port, [], Decisions ++ [{group, reloads}]},
     %% The Java examples answer as the Rust ones; the recorder and the
     %% failure cases are Rust handlers.
     {java, [], [the_jvm_runs_with_the_java_and_jvm_args_of_the_config,
                 {group, custom_hook}, {group, gatekeeper}, {group, two_drivers}]},
     {port_recovery, [], [killed_processes_restart_and_every_call_is_answered,
                          hung_process_is_killed_and_restarted,
                          a_stall_that_times_out_every_call_in_flight_kills_nothing,
                          port_stats_have_the_latency_callers_saw,
                          library_written_over_in_place_leaves_the_processes_alone]},
     %% The same transport with JVMs behind it, and the ways a Java
     %% handler takes its JVM down (tests/fixtures/java/Faults.java).
     {java_recovery, [], [killed_jvms_restart_and_every_call_is_answered,
                          system_exit_in_a_handler_gets_the_policy_and_a_new_jvm,
                          hung_jvm_is_killed_and_restarted]},
     {custom_hook, [],
      [only_implemented_hooks_are_registered, login_allowed_for_named_client,
       login_refused_for_empty_clientid, acl_allowed_for_named_user,
       acl_denied_without_username, connect_and_publish_pass_unchanged]},
     {gatekeeper, [],
      [connection_refused_for_banned_user, login_refused_for_banned_user,
       subscriptions_denied_rewritten_and_kept, message_dropped, message_rewritten,
       message_outside_topic_filters_untouched, delivery_rewritten_for_subscriber]},
     {two_drivers, [],
      [first_configured_driver_decides, config_order_sets_who_decides,
       order_survives_disable_and_enable, order_survives_reload]},
     %% Reloads to another build at the same path (the examples' Rust
     %% libraries; the Java twins are classes).
     {reloads, [], [reload_to_a_build_with_other_hooks_adds_and_removes_them_in_order]},
     {all_hooks, [],
      [every_sample_reaches_the_handler_with_its_data, odd_shapes_are_decoded]},
     {failures, [],
      [panic_gets_deny_policy, panic_gets_ignore_policy, a_handler_that_gives_up_gets_the_policy,
       malformed_arguments_get_policy,
       notification_failure_does_not_disturb_the_broker,
       late_call_to_a_disabled_driver_gets_the_policy]},
     {lifecycle, [],
      [disable_unhooks_and_unloads, enable_again_decides_again, enable_and_disable_errors,
       init_failure_is_reported, missing_library_is_reported, wrong_init_module_is_reported,
       two_drivers_can_run_the_same_library, cli_lists_enables_and_disables,
       stats_and_metrics_count_every_call, metrics_count_the_calls_of_a_stopped_instance,
       app_stop_removes_every_hook]}].

init_per_suite(Config) ->
    ok = exhook_broker:start(),
    Config.

end_per_suite(_Config) ->
    _ = application:stop(?APP),
    exhook_broker:stop().

init_per_group(nif, Config) ->
    exhook_test_plugin:set_transport(nif), Config;
init_per_group(port, Config) ->
    exhook_test_plugin:set_transport(port), Config;
init_per_group(java, Config) ->
    exhook_test_plugin:set_transport(java), Config;
init_per_group(port_recovery, Config) ->
    exhook_test_plugin:set_transport(port), Config;
init_per_group(java_recovery, Config) ->
    Dir = filename:join(?config(priv_dir, Config), "faults"),
    [{faults, exhook_samples:compile_java_fixture("Faults", Dir)} | Config];
init_per_group(lifecycle, Config) ->
    exhook_test_plugin:set_transport(nif), Config;
init_per_group(custom_hook, Config) ->
    start_plugin([custom()]), Config;
init_per_group(gatekeeper, Config) ->
    start_plugin([gate()]), Config;
init_per_group(_, Config) ->
    Config.

end_per_group(Group, _Config) when Group =:= nif; Group =:= port; Group =:= java ->
    exhook_test_plugin:set_transport(nif);
end_per_group(port_recovery, _Config) ->
    stop_plugin(),
    exhook_test_plugin:set_transport(nif);
end_per_group(_, _Config) ->
    stop_plugin().

init_per_testcase(_Case, Config) ->
    Config.

end_per_testcase(_Case, _Config) ->
    ok.

%%--------------------------------------------------------------------
%% Helpers

custom() -> exhook_test_plugin:custom().
gate() -> exhook_test_plugin:gate().
recorder(Config, Extra) -> exhook_test_plugin:recorder(Config, Extra).
start_plugin(Drivers) -> exhook_test_plugin:start(Drivers).
stop_plugin() -> exhook_test_plugin:stop().
sync_hooks() -> exhook_test_plugin:sync_hooks().
recorded(File) -> exhook_test_plugin:recorded(File).
await_recorded(File, N) -> exhook_test_plugin:await_recorded(File, N).
points_with_callbacks() -> exhook_test_plugin:points_with_callbacks().

recorded_line(File, Point) ->
    Prefix = <<(atom_to_binary(Point, utf8))/binary, " ">>,
    case [L || L <- recorded(File), binary:longest_common_prefix([L, Prefix]) =:= byte_size(Prefix)] of
        [Line] -> Line;
        Other -> ct:fail({recorded_lines, Point, Other})
    end.

assert_contains(Line, Parts) ->
    [?assertNotEqual(nomatch, binary:match(Line, unicode:characters_to_binary(P)), {P, Line})
     || P <- Parts],
    ok.

authenticate_sample() -> hd(exhook_samples:args('client.authenticate')).
connect_sample() -> hd(exhook_samples:args('client.connect')).

%%--------------------------------------------------------------------
%% Example (a): the seed article's CustomHook

only_implemented_hooks_are_registered(_Config) ->
    Implemented = case exhook_test_plugin:transport() of
                      %% The original Java SDK's sample handler prints every event.
                      java -> [P || #{point := P} <- emqx_extension_hook_hooks:all()];
                      _ -> ['client.connect', 'client.connected', 'client.authenticate',
                            'client.check_acl', 'message.publish']
                  end,
    ?assertEqual(Implemented, points_with_callbacks()).

login_allowed_for_named_client(_Config) ->
    %% Anonymous logins are off: only the handler's decision lets it in.
    ?assertMatch({ok, #{auth_result := success, anonymous := false}},
                 exhook_broker:authenticate(authenticate_sample(), false)).

login_refused_for_empty_clientid(_Config) ->
    ClientInfo = (authenticate_sample())#{clientid => <<>>},
    ?assertEqual({error, not_authorized}, exhook_broker:authenticate(ClientInfo, true)).

acl_allowed_for_named_user(_Config) ->
    ?assertEqual(allow, exhook_broker:check_acl(exhook_samples:client_info(), subscribe,
                                                <<"p/#">>, deny)).

acl_denied_without_username(_Config) ->
    ClientInfo = exhook_samples:client_info(),
    [?assertEqual(deny, exhook_broker:check_acl(ClientInfo#{username => U}, publish,
                                                <<"p/1">>, allow))
     || U <- [undefined, <<>>]].

connect_and_publish_pass_unchanged(_Config) ->
    [ConnInfo, Props] = exhook_samples:args('client.connect'),
    ?assertEqual({ok, Props}, exhook_broker:connect(ConnInfo, Props)),
    Msg = exhook_samples:message(),
    ?assertEqual({routed, Msg}, exhook_broker:publish(Msg)).

%%--------------------------------------------------------------------
%% Example (b): every other kind of decision

connection_refused_for_banned_user(_Config) ->
    ?assertEqual({error, 16#8A}, exhook_broker:connect(connect_sample(), #{})),
    Good = (connect_sample())#{username => <<"good">>},
    ?assertEqual({ok, #{}}, exhook_broker:connect(Good, #{})).

login_refused_for_banned_user(_Config) ->
    ?assertEqual({error, not_authorized},
                 exhook_broker:authenticate(authenticate_sample(), true)).

subscriptions_denied_rewritten_and_kept(_Config) ->
    [ClientInfo, Props, [{Filter, Opts}]] = exhook_samples:args('client.subscribe'),
    Requested = [{Filter, Opts}, {<<"#">>, Opts}, {<<"private/inbox">>, Opts}],
    ?assertEqual([{<<"p/#">>, {ok, 1}}, {<<"#">>, {error, 16#80}},
                  {<<"users/good/inbox">>, {ok, 1}}],
                 exhook_broker:subscribe(ClientInfo, Props, Requested)).

message_dropped(_Config) ->
    Msg = setelement(7, exhook_samples:message(), <<"blocked/x">>),
    ?assertEqual(dropped, exhook_broker:publish(Msg)).

message_rewritten(_Config) ->
    Msg = setelement(7, exhook_samples:message(), <<"legacy/a/b">>),
    {routed, Out} = exhook_broker:publish(Msg),
    ?assertEqual(<<"v2/a/b">>, element(7, Out)),
    ?assertEqual(1, element(3, Out)),
    %% Everything else is the broker's message, untouched.
    ?assertEqual(setelement(7, setelement(3, Msg, 1), <<"v2/a/b">>), Out).

message_outside_topic_filters_untouched(_Config) ->
    Msg = exhook_samples:message(),
    ?assertEqual({routed, Msg}, exhook_broker:publish(Msg)).

delivery_rewritten_for_subscriber(_Config) ->
    [ClientInfo, Msg] = exhook_samples:args('message.delivered'),
    Out = exhook_broker:deliver(ClientInfo, Msg),
    ?assertEqual(<<"m1 (for subA)">>, element(8, Out)),
    ?assertEqual(setelement(8, Msg, <<"m1 (for subA)">>), Out).

%%--------------------------------------------------------------------
%% Two drivers: asked in config order, the first decision wins

first_configured_driver_decides(_Config) ->
    start_plugin([gate(), custom()]),
    %% gate denies "bad" before custom (which would allow it) is asked.
    ?assertEqual({error, not_authorized}, exhook_broker:authenticate(authenticate_sample(), true)),
    %% gate has no opinion on "good": custom decides, with anonymous logins off.
    Good = (authenticate_sample())#{username => <<"good">>},
    ?assertMatch({ok, #{anonymous := false}}, exhook_broker:authenticate(Good, false)).

config_order_sets_who_decides(_Config) ->
    start_plugin([custom(), gate()]),
    ?assertMatch({ok, _}, exhook_broker:authenticate(authenticate_sample(), false)).

order_survives_disable_and_enable(_Config) ->
    start_plugin([gate(), custom()]),
    ok = emqx_extension_hook:disable(gate),
    ok = emqx_extension_hook:enable(gate),
    sync_hooks(),
    ?assertEqual({error, not_authorized}, exhook_broker:authenticate(authenticate_sample(), true)).

%% A reload keeps the driver's place in the config order: after either
%% driver is reloaded, the broker runs gate's callback before custom's,
%% so gate still refuses the banned user whom custom would let in.
order_survives_reload(_Config) ->
    start_plugin([gate(), custom()]),
    lists:foreach(
      fun(Name) ->
              ok = emqx_extension_hook:reload(Name),
              sync_hooks(),
              ?assertEqual([<<"gate">>, <<"custom">>], drivers_in_run_order('client.authenticate'),
                           Name),
              ?assertEqual({error, not_authorized},
                           exhook_broker:authenticate(authenticate_sample(), true), Name)
      end, [custom, gate]).

%% The drivers whose callbacks the broker runs at `Point', in run order.
drivers_in_run_order(Point) ->
    [Name || {callback, {emqx_extension_hook_callbacks, _, [{emqx_extension_hook_driver, Name}]}, _, _}
                 <- emqx_hooks:lookup(Point)].

%% The points where driver `Name' has a callback.
points_of(Name) ->
    [P || #{point := P} <- emqx_extension_hook_hooks:all(),
          lists:member(Name, drivers_in_run_order(P))].

%%--------------------------------------------------------------------
%% Reloads to another build

%% Driver x (first in the config) is reloaded from the gatekeeper's build
%% to custom's and back, beside the recorder (second), which implements
%% every hook and decides nothing. Each reload adds the hooks only the new
%% build implements, at x's place before the recorder, removes those only
%% the old one implemented, and leaves the ones both implement (connect,
%% authenticate, publish) registered.
reload_to_a_build_with_other_hooks_adds_and_removes_them_in_order(Config) ->
    Lib = filename:join(?config(priv_dir, Config),
                        "libx-" ++ integer_to_list(erlang:unique_integer([positive])) ++ ".so"),
    exhook_test_plugin:install_library(exhook_samples:library(emqx_example_gatekeeper), Lib),
    {Rec, File} = recorder(Config, []),
    start_plugin([{x, [{path, Lib}, {transport, exhook_test_plugin:transport()}]}, Rec]),
    GateHooks = ['client.connect', 'client.authenticate', 'client.subscribe',
                 'message.publish', 'message.delivered'],
    CustomHooks = ['client.connect', 'client.connected', 'client.authenticate',
                   'client.check_acl', 'message.publish'],
    Acl = fun(Username, Topic, Default) ->
                  Client = (authenticate_sample())#{username => Username},
                  exhook_broker:check_acl(Client, publish, Topic, Default)
          end,
    AclsRecorded = fun() -> length([L || L <- recorded(File),
                                         binary:match(L, <<"client.check_acl ">>) =/= nomatch])
                   end,
    ?assertEqual(GateHooks, points_of(<<"x">>)),
    %% The gatekeeper has no ACL hook: the recorder is asked, the default stays.
    ?assertEqual(allow, Acl(<<"good">>, <<"t/1">>, allow)),
    ?assertEqual(1, AclsRecorded()),
    exhook_test_plugin:install_library(exhook_samples:library(emqx_example_custom_hook), Lib),
    ok = emqx_extension_hook:reload(x),
    sync_hooks(),
    ?assertEqual(CustomHooks, points_of(<<"x">>)),
    %% x's new ACL callback runs before the recorder's: custom decides
    %% (allow with a username, deny without) and the recorder is not asked.
    ?assertEqual([<<"x">>, <<"rec">>], drivers_in_run_order('client.check_acl')),
    ?assertEqual(allow, Acl(<<"good">>, <<"t/2">>, deny)),
    ?assertEqual(deny, Acl(<<>>, <<"t/3">>, allow)),
    ?assertEqual(1, AclsRecorded()),
    %% The gatekeeper's subscribe and delivered hooks are gone with it.
    ?assertEqual([<<"rec">>], drivers_in_run_order('client.subscribe')),
    ?assertEqual([<<"rec">>], drivers_in_run_order('message.delivered')),
    exhook_test_plugin:install_library(exhook_samples:library(emqx_example_gatekeeper), Lib),
    ok = emqx_extension_hook:reload(x),
    sync_hooks(),
    ?assertEqual(GateHooks, points_of(<<"x">>)),
    ?assertEqual([<<"x">>, <<"rec">>], drivers_in_run_order('client.subscribe')),
    ?assertEqual([<<"rec">>], drivers_in_run_order('client.check_acl')),
    ?assertEqual(allow, Acl(<<>>, <<"t/4">>, allow)),
    ?assertEqual(2, AclsRecorded()),
    %% The hooks both builds implement kept x's place throughout, and x's
    %% instance now is the gatekeeper: it refuses the banned user.
    [?assertEqual([<<"x">>, <<"rec">>], drivers_in_run_order(P), P)
     || P <- ['client.connect', 'client.authenticate', 'message.publish']],
    ?assertEqual({error, not_authorized}, exhook_broker:authenticate(authenticate_sample(), true)).

%%--------------------------------------------------------------------
%% All 19 hooks, with the real samples, into a handler that records them

every_sample_reaches_the_handler_with_its_data(Config) ->
    {Rec, File} = recorder(Config, []),
    start_plugin([Rec]),
    ?assertEqual(length(emqx_extension_hook_hooks:all()), length(points_with_callbacks())),
    %% The recorder has no opinion: every fold hook returns its accumulator.
    [begin
         Result = exhook_broker:replay(Point, Args),
         case lists:member(Point, ['client.connect', 'client.connack', 'client.authenticate',
                                   'client.check_acl', 'client.subscribe', 'client.unsubscribe',
                                   'message.publish', 'message.delivered']) of
             true -> ?assertEqual(lists:last(Args), Result, Point);
             false -> ?assertEqual(ok, Result, Point)
         end
     end || {Point, Args} <- exhook_samples:all()],
    ?assertEqual(19, length(await_recorded(File, 19))),
    Expect =
        [{'client.connect', ["conn_clientid=Some(\"c-bad\")", "socktype=tcp",
                             "peername=Some(127.0.0.1:33854)", "proto_ver=Some(4)", "keepalive=Some(60)"]},
         {'client.connack', ["conn_clientid=Some(\"c-bad\")", "reason=not_authorized"]},
         {'client.connected', ["clientid=subA", "username=Some(\"good\")",
                               "peerhost=Some(127.0.0.1)", "sockport=1883", "sockname=Some(127.0.0.1:1883)"]},
         {'client.disconnected', ["clientid=pubA", "reason=normal", "peername=Some(127.0.0.1:33878)"]},
         {'client.authenticate', ["clientid=c-bad", "username=Some(\"bad\")", "protocol=mqtt",
                                  "zone=external", "mountpoint=None",
                                  "so_far=AuthResult { success: true, anonymous: true }"]},
         {'client.check_acl', ["clientid=subA", "pubsub=Subscribe", "topic=p/#", "so_far=true"]},
         {'client.subscribe', ["clientid=subA", "filter=p/# qos=1"]},
         {'client.unsubscribe', ["clientid=subB", "filter=r/#"]},
         {'session.created', ["clientid=subA", "subscriptions= created_at=Some(1795654383898)"]},
         {'session.subscribed', ["clientid=subA", "filter=p/# qos=1 is_new=Some(true)"]},
         {'session.unsubscribed', ["clientid=subB", "filter=r/#"]},
         {'session.resumed', ["clientid=subA", "subscriptions=p/#@1"]},
         {'session.discarded', ["clientid=subA", "subscriptions=p/#@1"]},
         {'session.takeovered', ["clientid=subA", "subscriptions=p/#@1"]},
         {'session.terminated', ["clientid=pubA", "reason=normal", "created_at=Some(1795654384902)"]},
         {'message.publish', ["from=pubA topic=p/1 payload=m1 qos=1",
                              "id=000661235dc06475f443000006ae0001", "retain=false",
                              "username=Some(\"good\")"]},
         {'message.delivered', ["clientid=subA", "from=pubA topic=p/1 payload=m1 qos=1"]},
         {'message.acked', ["clientid=subA", "topic=p/1 payload=m1"]},
         {'message.dropped', ["from=pubB topic=nobody/here payload=m2 qos=0",
                              "node=emqx@127.0.0.1 reason=no_subscribers"]}],
    [assert_contains(recorded_line(File, Point), Parts) || {Point, Parts} <- Expect],
    ok.

odd_shapes_are_decoded(Config) ->
    {Rec, File} = recorder(Config, []),
    start_plugin([Rec]),
    Base = authenticate_sample(),
    Odd = Base#{clientid => <<"odd">>, username => undefined, password => <<"secret">>,
                peerhost => {16#2001, 16#db8, 0, 0, 0, 0, 0, 1}, mountpoint => <<"tenant/">>,
                ws_cookie => [{<<"session">>, <<"abc">>}], dn => <<"CN=odd,O=acme">>,
                cn => <<"odd">>, protocol => 'mqtt-sn', sockport => 8084},
    ?assertEqual({ok, #{auth_result => success, anonymous => true}},
                 exhook_broker:authenticate(Odd, true)),
    assert_contains(recorded_line(File, 'client.authenticate'),
                    ["clientid=odd", "username=None", "password_len=6",
                     "peerhost=Some(2001:db8::1)", "protocol=mqtt-sn", "sockport=8084",
                     "mountpoint=Some(\"tenant/\")", "dn=CN=odd,O=acme", "cn=odd",
                     "ws_cookie="]),
    %% Invalid UTF-8 in a clientid does not stop the handler.
    Bad = Base#{clientid => <<"bad", 255, "id">>},
    ?assertMatch({ok, _}, exhook_broker:authenticate(Bad, true)),
    [Line] = [L || L <- recorded(File), binary:match(L, <<"clientid=bad">>) =/= nomatch],
    assert_contains(Line, ["clientid=bad\x{FFFD}id"]),
    %% An IPv6 peer and MQTT 5 properties in a CONNECT.
    [ConnInfo, _] = exhook_samples:args('client.connect'),
    Conn6 = ConnInfo#{clientid => <<"v6">>, peername => {{0, 0, 0, 0, 0, 0, 0, 1}, 5555},
                      proto_ver => 5, username => undefined, peercert => nossl},
    Props = #{'Session-Expiry-Interval' => 30, 'User-Property' => [{<<"k">>, <<"v">>}]},
    ?assertEqual({ok, Props}, exhook_broker:connect(Conn6, Props)),
    [CLine] = [L || L <- recorded(File), binary:match(L, <<"Some(\"v6\")">>) =/= nomatch],
    assert_contains(CLine, ["peername=Some([::1]:5555)", "proto_ver=Some(5)", "nprops=2"]).

%%--------------------------------------------------------------------
%% Failures: the driver's failed_action answers, the broker carries on

panic_gets_deny_policy(Config) ->
    {Rec, _File} = recorder(Config, [{failed_action, deny}]),
    start_plugin([Rec]),
    Panicky = (authenticate_sample())#{clientid => <<"panic-1">>},
    ?assertEqual({error, not_authorized}, exhook_broker:authenticate(Panicky, true)),
    ?assertEqual(deny, exhook_broker:check_acl(Panicky, publish, <<"t">>, allow)),
    Msg = setelement(4, exhook_samples:message(), <<"panic-pub">>),
    ?assertEqual(dropped, exhook_broker:publish(Msg)).

panic_gets_ignore_policy(Config) ->
    {Rec, _File} = recorder(Config, [{failed_action, ignore}]),
    start_plugin([Rec]),
    Panicky = (authenticate_sample())#{clientid => <<"panic-2">>},
    %% No opinion: the broker's own default stands, whichever it is.
    ?assertMatch({ok, _}, exhook_broker:authenticate(Panicky, true)),
    ?assertEqual({error, not_authorized}, exhook_broker:authenticate(Panicky, false)),
    ?assertEqual(allow, exhook_broker:check_acl(Panicky, publish, <<"t">>, allow)).

%% emqx_extension_sdk::fail: the handler cannot decide; the broker gets the
%% failure policy and the call counts as failed.
a_handler_that_gives_up_gets_the_policy(Config) ->
    {Rec, _File} = recorder(Config, [{failed_action, deny}]),
    start_plugin([Rec]),
    GivesUp = (authenticate_sample())#{clientid => <<"fail-1">>},
    ?assertEqual({error, not_authorized}, exhook_broker:authenticate(GivesUp, true)),
    ?assertEqual(deny, exhook_broker:check_acl(GivesUp, publish, <<"t">>, allow)),
    ?assertMatch({ok, _}, exhook_broker:authenticate(authenticate_sample(), true)),
    ?assertMatch(#{calls := 2, succeeded := 1, failed := 1},
                 exhook_test_plugin:stats(rec, 'client.authenticate')).

malformed_arguments_get_policy(Config) ->
    {Rec, _File} = recorder(Config, [{failed_action, deny}]),
    start_plugin([Rec]),
    ?assertEqual({error, not_authorized}, exhook_broker:authenticate(not_a_map, true)),
    ?assertEqual(deny, exhook_broker:check_acl(#{}, sideways, 42, allow)),
    ?assertEqual(dropped, exhook_broker:publish({message, <<>>, 0, <<"x">>, #{}, #{},
                                                 42, <<>>, 0})).

notification_failure_does_not_disturb_the_broker(Config) ->
    {Rec, File} = recorder(Config, []),
    start_plugin([Rec]),
    [ClientInfo, ConnInfo] = exhook_samples:args('client.connected'),
    ?assertEqual(ok, exhook_broker:notify('client.connected',
                                          [ClientInfo#{clientid => <<"panic-3">>}, ConnInfo])),
    ?assertEqual(ok, exhook_broker:notify('client.connected', [garbage, ConnInfo])),
    ?assertEqual(ok, exhook_broker:notify('client.connected', [ClientInfo, ConnInfo])),
    await_recorded(File, 1),
    assert_contains(recorded_line(File, 'client.connected'), ["clientid=subA"]).

%% The broker's del is a cast, and a client may have fetched the callbacks
%% just before it: such a call reaches a driver after its disable. It gets
%% the failure policy, never through the error handler (which in a VM that
%% loads code on demand would ask the code server to search the code path
%% on every such call). Once the driver is enabled again, the same
%% callbacks reach its new instance.
late_call_to_a_disabled_driver_gets_the_policy(Config) ->
    {Rec, _File} = recorder(Config, [{failed_action, deny}]),
    start_plugin([Rec]),
    {ok, Callbacks} = emqx_extension_hook_drivers:callbacks(rec),
    Late = fun(Point, Args) ->
                   {M, F, Extra} = proplists:get_value(Point, Callbacks),
                   erlang:apply(M, F, Args ++ Extra)
           end,
    Login = fun() -> Late('client.authenticate', exhook_samples:args('client.authenticate')) end,
    Connected = fun() -> Late('client.connected', exhook_samples:args('client.connected')) end,
    %% While enabled, the recorder has no opinion: `ok' leaves the
    %% accumulator as it is.
    ?assertEqual(ok, Login()),
    erlang:trace_pattern({error_handler, undefined_function, 3}, true, [call_count]),
    try
        ok = emqx_extension_hook:disable(rec),
        ?assertMatch({stop, #{auth_result := not_authorized}}, Login()),
        ?assertEqual(ok, Connected()),
        ok = emqx_extension_hook:enable(rec),
        ?assertEqual(ok, Login()),
        ?assertEqual(ok, Connected()),
        ?assertEqual({call_count, 0},
                     erlang:trace_info({error_handler, undefined_function, 3}, call_count))
    after
        erlang:trace_pattern({error_handler, undefined_function, 3}, false, [call_count])
    end,
    %% The new instance answered the late login, and answers the broker.
    ?assertMatch({ok, _}, exhook_broker:authenticate(authenticate_sample(), true)),
    ?assertMatch(#{calls := 2, succeeded := 2},
                 exhook_test_plugin:stats(rec, 'client.authenticate')).

%%--------------------------------------------------------------------
%% Lifecycle

disable_unhooks_and_unloads(_Config) ->
    start_plugin([custom()]),
    ok = emqx_extension_hook:disable(custom),
    sync_hooks(),
    ?assertEqual([], points_with_callbacks()),
    ?assert(exhook_test_plugin:library_released(custom)),
    ?assertMatch([#{name := <<"custom">>, enabled := false}], emqx_extension_hook:list()),
    %% The broker's default decides again.
    ?assertEqual({error, not_authorized}, exhook_broker:authenticate(authenticate_sample(), false)).

enable_again_decides_again(_Config) ->
    start_plugin([custom()]),
    ok = emqx_extension_hook:disable(custom),
    ok = emqx_extension_hook:enable(custom),
    ?assertMatch({ok, _}, exhook_broker:authenticate(authenticate_sample(), false)),
    ?assertEqual(5, length(points_with_callbacks())),
    ok = emqx_extension_hook:disable(custom),
    ok = emqx_extension_hook:enable(custom),
    ?assertEqual(5, length(points_with_callbacks())).

enable_and_disable_errors(_Config) ->
    start_plugin([custom()]),
    ?assertEqual({error, already_enabled}, emqx_extension_hook:enable(custom)),
    ?assertEqual({error, not_configured}, emqx_extension_hook:enable(nosuch)),
    ?assertEqual({error, not_enabled}, emqx_extension_hook:disable(nosuch)).

init_failure_is_reported(_Config) ->
    %% The recorder refuses to start without `record_to'; optional, so the
    %% plugin starts without it.
    start_plugin([{rec, [{path, exhook_samples:library(emqx_test_recorder)}, {optional, true}]},
                  custom()]),
    ?assertEqual({error, {init_failed, <<"record_to is not set">>}},
                 emqx_extension_hook:enable(rec)),
    %% The other driver runs regardless.
    ?assertMatch({ok, _}, exhook_broker:authenticate(authenticate_sample(), false)),
    ?assert(exhook_test_plugin:library_released(rec)).

missing_library_is_reported(_Config) ->
    start_plugin([{nolib, [{path, "/nonexistent/libx.so"}, {optional, true}]}]),
    ?assertEqual({error, {library_missing, "/nonexistent/libx.so"}},
                 emqx_extension_hook:enable(nolib)).

wrong_init_module_is_reported(_Config) ->
    Lib = exhook_samples:library(emqx_example_custom_hook),
    start_plugin([{wrong, [{path, Lib}, {init_module, not_the_library_module}, {optional, true}]}]),
    ?assertEqual({error, {init_module_mismatch, Lib, <<"emqx_example_custom_hook">>,
                          "not_the_library_module"}},
                 emqx_extension_hook:enable(wrong)),
    ?assertEqual(false, code:is_loaded(not_the_library_module)).

%% Each driver loads its own copy of its library into modules of its own,
%% so two drivers may run the same library.
two_drivers_can_run_the_same_library(_Config) ->
    start_plugin([gate(), {again, [{path, exhook_samples:library(emqx_example_gatekeeper)}]}]),
    ?assertEqual({error, not_authorized}, exhook_broker:authenticate(authenticate_sample(), true)),
    ok = emqx_extension_hook:disable(gate),
    sync_hooks(),
    %% The other one still decides.
    ?assertEqual({error, not_authorized}, exhook_broker:authenticate(authenticate_sample(), true)),
    ?assertMatch(#{calls := 1}, exhook_test_plugin:stats(again, 'client.authenticate')).

cli_lists_enables_and_disables(_Config) ->
    start_plugin([custom(), gate()]),
    ?assert(lists:member(exhook, emqx_ctl:registered())),
    List = emqx_ctl:run(["exhook", "drivers", "list"]),
    ?assertNotEqual(nomatch, string:find(List, "Driver(custom, enabled")),
    ?assertNotEqual(nomatch, string:find(List, "Driver(gate, enabled")),
    ?assertNotEqual(nomatch, string:find(emqx_ctl:run(["exhook", "drivers", "disable", "gate"]),
                                         "gate disabled")),
    ?assertNotEqual(nomatch, string:find(emqx_ctl:run(["exhook", "drivers", "list"]),
                                         "Driver(gate, disabled")),
    ?assertNotEqual(nomatch, string:find(emqx_ctl:run(["exhook", "drivers", "enable", "gate"]),
                                         "gate enabled")),
    ?assertNotEqual(nomatch, string:find(emqx_ctl:run(["exhook", "nonsense"]),
                                         "exhook drivers list")).

stats_and_metrics_count_every_call(Config) ->
    {Rec, File} = recorder(Config, [{failed_action, ignore}]),
    start_plugin([Rec, custom()]),
    %% EMQX metrics live as long as the node: count from here.
    AuthMetric0 = emqx_metrics:val('exhook.rec.client_authenticate'),
    ConnectedMetric0 = emqx_metrics:val('exhook.rec.client_connected'),
    Sample = authenticate_sample(),
    [{ok, _} = exhook_broker:authenticate(Sample, true) || _ <- lists:seq(1, 5)],
    {ok, _} = exhook_broker:authenticate(Sample#{clientid => <<"panic-stats">>}, true),
    [ClientInfo, ConnInfo] = exhook_samples:args('client.connected'),
    [ok = exhook_broker:notify('client.connected', [ClientInfo, ConnInfo]) || _ <- lists:seq(1, 3)],
    await_recorded(File, 8),
    %% A notification is counted once its handler returns, just after the
    %% recorder wrote its line; custom handles client.connected too.
    Handled = fun(#{queued := Q, succeeded := S}) -> Q =:= 0 andalso S =:= 3 end,
    _ = exhook_test_plugin:await_stats(rec, 'client.connected', Handled),
    _ = exhook_test_plugin:await_stats(custom, 'client.connected', Handled),
    ?assertMatch(#{calls := 6, succeeded := 5, failed := 1, timed_out := 0, dropped := 0,
                   overran := 0, queued := 0},
                 exhook_test_plugin:stats(rec, 'client.authenticate')),
    #{p50_us := P50, p99_us := P99} = exhook_test_plugin:stats(rec, 'client.authenticate'),
    ?assert(P50 > 0 andalso P99 >= P50),
    ?assertMatch(#{calls := 3, succeeded := 3}, exhook_test_plugin:stats(rec, 'client.connected')),
    %% The EMQX counter of each hook call, named as the original plugin
    %% named it; the plugin adds the calls to it once a second.
    await_metric('exhook.rec.client_authenticate', AuthMetric0 + 6),
    await_metric('exhook.rec.client_connected', ConnectedMetric0 + 3),
    Out = emqx_ctl:run(["exhook", "drivers", "stats"]),
    ?assertNotEqual(nomatch, string:find(Out, "Driver(rec, nif, queued=0, restarts=0, log_dropped=0)")),
    ?assertMatch({match, _}, re:run(Out, "client.authenticate +calls=6 succeeded=5 failed=1 ")),
    %% The handler's own counters: the recorder's lines.
    ?assertNotEqual(nomatch, string:find(Out, "  handler: lines_written=8")),
    ?assertNotEqual(nomatch, string:find(Out, "Driver(custom, nif, queued=0, restarts=0, log_dropped=0)")).

%% Waits (up to 5 s) until EMQX metric `Name' is `Value', and checks it
%% does not go past it.
await_metric(Name, Value) ->
    await_metric(Name, Value, 250).

await_metric(Name, Value, Tries) ->
    case emqx_metrics:val(Name) of
        Value -> timer:sleep(1100), ?assertEqual(Value, emqx_metrics:val(Name));
        _ when Tries > 0 -> timer:sleep(20), await_metric(Name, Value, Tries - 1);
        Other -> ct:fail({metric, Name, Other, expected, Value})
    end.

%% What an instance counted reaches the EMQX metrics when it stops too:
%% the metrics are added once a second, and a disable or a reload in
%% between loses nothing.
metrics_count_the_calls_of_a_stopped_instance(_Config) ->
    start_plugin([custom()]),
    Metric = 'exhook.custom.client_authenticate',
    M0 = emqx_metrics:val(Metric),
    [{ok, _} = exhook_broker:authenticate(authenticate_sample(), true) || _ <- lists:seq(1, 4)],
    ok = emqx_extension_hook:reload(custom),
    [{ok, _} = exhook_broker:authenticate(authenticate_sample(), true) || _ <- lists:seq(1, 3)],
    ok = emqx_extension_hook:disable(custom),
    ?assertEqual(M0 + 7, emqx_metrics:val(Metric)).

app_stop_removes_every_hook(Config) ->
    {Rec, _File} = recorder(Config, []),
    start_plugin([custom(), gate(), Rec]),
    ?assertEqual(19, length(points_with_callbacks())),
    ok = application:stop(?APP),
    sync_hooks(),
    ?assertEqual([], points_with_callbacks()),
    ?assertNot(lists:member(exhook, emqx_ctl:registered())),
    [?assert(exhook_test_plugin:library_released(D)) || D <- [custom, gate, rec]],
    ?assertEqual([], exhook_test_plugin:await_mapped_library_copies(0)).

%%--------------------------------------------------------------------
%% Port transport: handler processes that die or hang

killed_processes_restart_and_every_call_is_answered(Config) ->
    {Rec, _} = recorder(Config, [{pool_size, 2}, {call_timeout, 200}, {failed_action, deny}]),
    start_plugin([Rec]),
    kill_under_load_and_recover(rec, 200).

%% Driver `Name' (two handler processes, call timeout `T' ms, failure
%% policy deny) under load from 16 callers: its processes are killed
%% mid-load; every call is answered in time, and the pool recovers.
kill_under_load_and_recover(Name, T) ->
    {ok, #{pids := Pids0}} = port_processes(Name),
    ?assertEqual(2, length(Pids0)),
    Parent = self(),
    Until = erlang:monotonic_time(millisecond) + 2500,
    Callers = [spawn_link(fun() -> Parent ! {self(), call_until(Until, I, 0, #{})} end)
               || I <- lists:seq(1, 16)],
    timer:sleep(500),
    %% Mid-load, both handler processes die at once.
    [os:cmd("kill -9 " ++ integer_to_list(P)) || P <- Pids0],
    Results = [receive {C, R} -> R after 30000 -> error({caller_stuck, C}) end || C <- Callers],
    Slowest = lists:max([S || {S, _} <- Results]),
    Kinds = lists:foldl(fun({_, K}, Acc) -> maps:merge_with(fun(_, A, B) -> A + B end, K, Acc) end,
                        #{}, Results),
    ct:log("answers ~p, slowest ~b ms", [Kinds, Slowest]),
    %% Every fold hook was answered within call_timeout (plus scheduling
    %% slack): the handler's decision, or deny while the processes were down.
    ?assert(Slowest =< T + 250),
    ?assert(maps:get(decided, Kinds, 0) > 0),
    ?assert(maps:get(policy, Kinds, 0) > 0),
    %% The pool recovered: new processes, counted restarts, decisions again.
    {ok, #{pids := Pids1}} = await_processes(Name, 2, fun(Pids) -> Pids -- Pids0 =:= Pids end),
    ?assertEqual([], Pids0 -- (Pids0 -- Pids1)),
    ?assertMatch({ok, _}, await_login_decided()),
    [#{restarts := Restarts}] = emqx_extension_hook:stats(),
    ?assert(Restarts >= 2).

hung_process_is_killed_and_restarted(Config) ->
    {Rec, _} = recorder(Config, [{pool_size, 1}, {call_timeout, 100}, {failed_action, deny}]),
    start_plugin([Rec]),
    {ok, #{pids := [Pid0]}} = port_processes(rec),
    %% Each of these blocks a worker of the process for a minute.
    Hanging = [(authenticate_sample())#{clientid => iolist_to_binary(["slow-60000-", integer_to_list(I)])}
               || I <- lists:seq(1, 12)],
    [?assertEqual({error, not_authorized}, exhook_broker:authenticate(C, true)) || C <- Hanging],
    %% The tenth timeout in a row has the process killed; its server may
    %% still be on its way there when the last caller returns.
    {ok, #{pids := [Pid1]}} = await_processes(rec, 1, fun(Pids) -> Pids =/= [Pid0] end),
    ?assertNotEqual(Pid0, Pid1),
    ?assertMatch({ok, _}, await_login_decided()).

%% A java driver's `java' and `jvm_args' settings start its JVM.
the_jvm_runs_with_the_java_and_jvm_args_of_the_config(_Config) ->
    Java = "/usr/lib/jvm/java-17-openjdk-amd64/bin/java",
    {gate, Opts} = exhook_test_plugin:gate(),
    start_plugin([{gate, [{java, Java}, {jvm_args, "-Xmx96m -Dexhook.test=set"} | Opts]}]),
    try
        {ok, #{pids := [Pid]}} = port_processes(gate),
        {ok, Cmdline} = file:read_file("/proc/" ++ integer_to_list(Pid) ++ "/cmdline"),
        [Exe | Args] = binary:split(Cmdline, <<0>>, [global, trim]),
        ?assertEqual(list_to_binary(Java), Exe),
        ?assertEqual([<<"-Xmx96m">>, <<"-Dexhook.test=set">>],
                     [A || A <- Args, A =:= <<"-Xmx96m">> orelse A =:= <<"-Dexhook.test=set">>])
    after
        stop_plugin()
    end.

%% A stall of the process (here stopped with SIGSTOP for 300 ms, as a
%% busy machine deschedules it) times out every call in flight at once:
%% 30 timeouts in a row, yet the process is not hung (it answers again a
%% moment later), and killing it would fail every call until it had
%% restarted.
a_stall_that_times_out_every_call_in_flight_kills_nothing(Config) ->
    {Rec, _} = recorder(Config, [{pool_size, 1}, {call_timeout, 100}, {failed_action, deny}]),
    start_plugin([Rec]),
    {ok, #{pids := [Pid]}} = port_processes(rec),
    %% It has just answered: the stall is all its silence.
    ?assertMatch({ok, _}, await_login_decided()),
    Login = fun(Id) -> exhook_broker:authenticate((authenticate_sample())#{clientid => Id}, true) end,
    Parent = self(),
    os:cmd("kill -STOP " ++ integer_to_list(Pid)),
    Callers =
        try
            Stalled = [spawn_link(fun() -> Parent ! {self(), Login(integer_to_binary(I))} end)
                       || I <- lists:seq(1, 30)],
            timer:sleep(300),
            Stalled
        after
            os:cmd("kill -CONT " ++ integer_to_list(Pid))
        end,
    Answers = [receive {C, R} -> R end || C <- Callers],
    %% Enough timeouts in a row to count as hung, were the count all.
    ?assert(length([R || {error, not_authorized} = R <- Answers]) >= 10),
    %% Answered through the same server, after every timeout it was told of.
    ?assertMatch({ok, _}, await_login_decided()),
    ?assertEqual({ok, #{pids => [Pid]}}, port_processes(rec)),
    ?assertMatch([#{restarts := 0}], emqx_extension_hook:stats()).

%%--------------------------------------------------------------------
%% Port transport with JVMs: a Java handler that dies, exits or hangs

%% Java driver `faults' running tests/fixtures/java/Faults.java, with the
%% failure policy deny and `Extra' options.
faults(Config, Extra) ->
    {faults, [{kind, java}, {path, ?config(faults, Config)}, {init_module, "Faults"},
              {failed_action, deny} | Extra]}.

%% Faults lets a login in, not anonymously; the policy refuses it.
fault_login(Id) ->
    exhook_broker:authenticate((authenticate_sample())#{clientid => Id}, true).

killed_jvms_restart_and_every_call_is_answered(Config) ->
    start_plugin([faults(Config, [{pool_size, 2}, {call_timeout, 200}])]),
    ?assertMatch({ok, #{anonymous := false}}, fault_login(<<"c-1">>)),
    kill_under_load_and_recover(faults, 200).

%% A handler calling System.exit takes its JVM down with the calls in
%% flight: each gets the policy within call_timeout, and a new JVM decides.
system_exit_in_a_handler_gets_the_policy_and_a_new_jvm(Config) ->
    T = 2000,
    start_plugin([faults(Config, [{pool_size, 1}, {call_timeout, T}])]),
    {ok, #{pids := [Pid0]}} = port_processes(faults),
    ?assertMatch({ok, #{anonymous := false}}, fault_login(<<"c-1">>)),
    Parent = self(),
    Timed = fun(Id) ->
                    spawn_link(fun() ->
                                       T0 = erlang:monotonic_time(millisecond),
                                       R = fault_login(Id),
                                       Parent ! {self(), R, erlang:monotonic_time(millisecond) - T0}
                               end)
            end,
    %% Logins the handler lets in after 1.5 s, had its JVM lived that long
    %% (a JVM runs on a while after System.exit: a busy machine took
    %% 400 ms).
    InFlight = [Timed(iolist_to_binary(["sleep-1500-", integer_to_list(I)])) || I <- lists:seq(1, 4)],
    timer:sleep(100),
    Exit = Timed(<<"exit-3">>),
    Results = [receive {C, R, Ms} -> {R, Ms} after 30000 -> error({caller_stuck, C}) end
               || C <- [Exit | InFlight]],
    ct:log("answers ~p", [Results]),
    [?assertEqual({error, not_authorized}, R) || {R, _} <- Results],
    ?assert(lists:max([Ms || {_, Ms} <- Results]) =< T + 250),
    {ok, #{pids := [Pid1]}} = await_processes(faults, 1, fun(Pids) -> Pids =/= [Pid0] end),
    ?assertNotEqual(Pid0, Pid1),
    ?assertMatch({ok, #{anonymous := false}}, await_login_decided()),
    ?assertMatch([#{restarts := 1}], emqx_extension_hook:stats()).

%% Logins that each hold a JVM thread for a minute (a handler stuck on a
%% database gone silent): none is answered, and once 10 in a row have
%% timed out with nothing sent for 10 call timeouts, the hang rule kills
%% the JVM; a new one decides.
hung_jvm_is_killed_and_restarted(Config) ->
    start_plugin([faults(Config, [{pool_size, 1}, {call_timeout, 100}])]),
    {ok, #{pids := [Pid0]}} = port_processes(faults),
    ?assertMatch({ok, #{anonymous := false}}, fault_login(<<"c-1">>)),
    [?assertEqual({error, not_authorized}, fault_login(iolist_to_binary(["sleep-60000-", integer_to_list(I)])))
     || I <- lists:seq(1, 12)],
    {ok, #{pids := [Pid1]}} = await_processes(faults, 1, fun(Pids) -> Pids =/= [Pid0] end),
    ?assertNotEqual(Pid0, Pid1),
    ?assertMatch({ok, #{anonymous := false}}, await_login_decided()),
    ?assertMatch([#{restarts := 1}], emqx_extension_hook:stats()).

%% The file at `path' rebuilt in place (same inode) while the driver
%% runs: its processes run a private copy, so they neither crash (SIGBUS
%% on a truncated mapping) nor restart into the new build; a reload picks
%% it up. The custom hook allows the sample login, the gatekeeper refuses it.
library_written_over_in_place_leaves_the_processes_alone(Config) ->
    Lib = filename:join(?config(priv_dir, Config), "librewritten.so"),
    {ok, _} = file:copy(exhook_samples:library(emqx_example_custom_hook), Lib),
    start_plugin([{x, [{path, Lib}, {transport, port}, {pool_size, 2}]}]),
    {ok, #{pids := Pids}} = port_processes(x),
    ?assertMatch({ok, _}, exhook_broker:authenticate(authenticate_sample(), true)),
    {ok, Gate} = file:read_file(exhook_samples:library(emqx_example_gatekeeper)),
    ok = file:write_file(Lib, Gate),
    timer:sleep(200),
    [?assertMatch({ok, _}, exhook_broker:authenticate((authenticate_sample())#{clientid => integer_to_binary(I)}, true))
     || I <- lists:seq(1, 20)],
    ?assertEqual({ok, #{pids => Pids}}, port_processes(x)),
    ?assertMatch([#{restarts := 0}], emqx_extension_hook:stats()),
    ok = emqx_extension_hook:reload(x),
    ?assertEqual({error, not_authorized}, exhook_broker:authenticate(authenticate_sample(), true)),
    %% The old instance's copy went with it; the new one's goes at stop.
    {ok, Dir} = emqx_extension_hook_library:private_dir(),
    %% This VM's: other VMs of the same user share the directory.
    Copies = fun() -> filelib:wildcard(os:getpid() ++ "-*@emqx_exhook_port.so", Dir) end,
    ?assertMatch([_], Copies()),
    stop_plugin(),
    ?assertEqual([], Copies()).

%% A real broker showed p50=0.0us for every hook of a port driver: the
%% round trip each caller waited is what the stats give.
port_stats_have_the_latency_callers_saw(Config) ->
    {Rec, _} = recorder(Config, [{pool_size, 1}]),
    start_plugin([Rec]),
    Timed = [element(1, timer:tc(fun() -> {ok, _} = exhook_broker:authenticate(authenticate_sample(), true) end))
             || _ <- lists:seq(1, 50)],
    #{calls := 50, succeeded := 50, p50_us := P50, p99_us := P99} =
        exhook_test_plugin:stats(rec, 'client.authenticate'),
    Median = lists:nth(25, lists:sort(Timed)),
    ct:log("p50 ~.1f us, p99 ~.1f us; the callers' median ~b us", [P50, P99, Median]),
    ?assert(P50 > 0 andalso P99 >= P50),
    %% Within the histogram's precision of what the callers measured.
    ?assert(P50 =< Median * 1.3 + 5).

call_until(Until, I, Slowest, Kinds) ->
    case erlang:monotonic_time(millisecond) > Until of
        true -> {Slowest, Kinds};
        false ->
            Client = (authenticate_sample())#{clientid => iolist_to_binary(["c-", integer_to_list(I)])},
            T0 = erlang:monotonic_time(millisecond),
            Kind = case exhook_broker:authenticate(Client, true) of
                       {ok, _} -> decided;
                       {error, not_authorized} -> policy
                   end,
            Ms = erlang:monotonic_time(millisecond) - T0,
            call_until(Until, I + 1, max(Ms, Slowest), maps:update_with(Kind, fun(N) -> N + 1 end, 1, Kinds))
    end.

port_processes(Name) ->
    {ok, Driver} = emqx_extension_hook_drivers:lookup(Name),
    {port, Transport} = Driver#exhook_driver.transport,
    {ok, #{pids => lists:sort(emqx_extension_hook_port:os_pids(Transport))}}.

%% A restarted process answers once it has loaded the library and run the
%% handler's init, which on a busy machine can take longer than one
%% call_timeout: the sample login, until the handler answers it (the
%% policy here denies; the handler has no opinion, so the broker's default
%% allows), for up to 5 s.
await_login_decided() ->
    await_login_decided(50).

await_login_decided(Tries) ->
    case exhook_broker:authenticate(authenticate_sample(), true) of
        {ok, _} = Decided -> Decided;
        Refused when Tries =:= 1 -> Refused;
        _ -> timer:sleep(100), await_login_decided(Tries - 1)
    end.

await_processes(Name, N) ->
    await_processes(Name, N, fun(_) -> true end).

%% Waits (up to 10 s) until driver `Name' has `N' handler processes whose
%% OS pids satisfy `Done'.
await_processes(Name, N, Done) ->
    await_processes(Name, N, Done, 500).

await_processes(Name, N, _Done, 0) ->
    ct:fail({processes_not_back, Name, N, port_processes(Name)});
await_processes(Name, N, Done, Tries) ->
    case port_processes(Name) of
        {ok, #{pids := Pids}} = Found when length(Pids) =:= N ->
            case Done(Pids) of
                true -> Found;
                false -> timer:sleep(20), await_processes(Name, N, Done, Tries - 1)
            end;
        _ -> timer:sleep(20), await_processes(Name, N, Done, Tries - 1)
    end.
