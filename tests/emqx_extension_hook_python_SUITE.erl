%% The python3 driver end to end, on both transports: the seed article's
%% CustomHook (the PyPI SDK installed into a virtual environment by this
%% suite, run unchanged with the article's config) and the Python
%% gatekeeper get the real EMQX 4.4.19 samples through the broker
%% stand-in, and the decisions come back as the broker would apply them;
%% every pitfall of CPython inside the VM is a case; a module that cannot
%% start refuses to enable with a clear error and leaves the broker alone.
-module(emqx_extension_hook_python_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-compile([export_all, nowarn_export_all]).

-define(APP, emqx_extension_hook).
%% Scheduling slack on top of call_timeout: machines are shared and noisy.
-define(MARGIN_MS, 500).

all() ->
    [{group, nif}, {group, port}, {group, vm_signals}].

groups() ->
    Common = [{group, custom_hook}, {group, gatekeeper}, {group, all_hooks}, {group, failures},
              {group, pitfalls}, {group, lifecycle}, {group, load_failures}],
    [{nif, [], Common ++ [{group, in_vm}]},
     {port, [], Common ++ [{group, out_of_process}]},
     {custom_hook, [],
      [only_implemented_hooks_are_registered, login_allowed_for_named_client,
       login_refused_for_empty_clientid, acl_allowed_for_named_user,
       acl_denied_without_username, connect_and_publish_pass_unchanged,
       every_sample_is_decided_as_the_rust_twin_decides]},
     {gatekeeper, [],
      [connection_refused_for_banned_user, login_refused_for_banned_user,
       subscriptions_denied_rewritten_and_kept, message_dropped, message_rewritten,
       message_outside_topic_filters_untouched, delivery_rewritten_for_subscriber,
       every_sample_is_decided_as_the_rust_twin_decides]},
     {all_hooks, [], [every_sample_reaches_python_as_the_original_passed_it]},
     {failures, [],
      [exception_gets_the_deny_policy, exception_gets_the_ignore_policy,
       unknown_answer_gets_the_policy, sys_exit_and_keyboard_interrupt_get_the_policy,
       slow_handler_is_answered_by_call_timeout_without_holding_other_clients]},
     {pitfalls, [],
      [print_and_stderr_reach_the_logger_line_by_line_and_survive_disable,
       recursion_to_pythons_limit_is_a_failure_not_a_crash,
       subprocess_returns_the_childs_real_exit_code,
       c_extension_modules_import_and_work,
       a_thread_the_handler_starts_runs_between_calls]},
     {lifecycle, [],
      [disable_then_enable_picks_up_an_edited_hooks_py, reload_picks_up_an_edited_hooks_py,
       reload_of_a_broken_hooks_py_keeps_the_old_instance_serving,
       reload_under_load_answers_every_call_with_a_decision]},
     {load_failures, [],
      [malformed_init_return_refuses_to_load, missing_module_refuses_to_load,
       syntax_error_refuses_to_load, optional_python_driver_that_fails_leaves_the_others]},
     {in_vm, [], [a_waiting_handler_lets_other_clients_calls_run]},
     {out_of_process, [], [os_exit_in_a_handler_takes_down_only_its_process]},
     {vm_signals, [], [a_handler_cannot_change_what_the_vm_does_on_sigterm]}].

init_per_suite(Config) ->
    ok = exhook_broker:start(),
    Venv = ensure_venv(),
    %% The article's layout: data/extension/hooks.py under the release root.
    Extension = filename:join([?config(priv_dir, Config), "data", "extension"]),
    ok = filelib:ensure_dir(filename:join(Extension, "x")),
    {ok, _} = file:copy(filename:join(python_dir(), "tests/fixtures/custom_hook/hooks.py"),
                        filename:join(Extension, "hooks.py")),
    [{venv, Venv}, {extension, release_relative(Extension)} | Config].

end_per_suite(_Config) ->
    exhook_test_plugin:stop(),
    exhook_test_plugin:set_transport(nif),
    exhook_broker:stop().

init_per_group(nif, Config) ->
    exhook_test_plugin:set_transport(nif), Config;
init_per_group(port, Config) ->
    exhook_test_plugin:set_transport(port), Config;
init_per_group(vm_signals, Config) ->
    exhook_test_plugin:set_transport(nif), Config;
init_per_group(custom_hook, Config) ->
    start_plugin([article_driver(Config)]), [{python, article_driver(Config)}, {twin, custom()} | Config];
init_per_group(gatekeeper, Config) ->
    start_plugin([gatekeeper()]), [{python, gatekeeper()}, {twin, gate()} | Config];
init_per_group(_, Config) ->
    Config.

end_per_group(Group, _Config) when Group =:= nif; Group =:= port; Group =:= vm_signals ->
    exhook_test_plugin:set_transport(nif);
end_per_group(_, _Config) ->
    stop_plugin().

init_per_testcase(_Case, Config) ->
    Config.

end_per_testcase(_Case, _Config) ->
    exhook_log_capture:uninstall().

%%--------------------------------------------------------------------
%% Helpers

start_plugin(Drivers) -> exhook_test_plugin:start(Drivers).
stop_plugin() -> exhook_test_plugin:stop().
transport() -> exhook_test_plugin:transport().
custom() -> exhook_test_plugin:custom().
gate() -> exhook_test_plugin:gate().

python_dir() -> filename:join([exhook_samples:root(), "native", "python"]).

%% scripts/python-venv.sh: Debian's python3 with the PyPI SDK
%% (emqx-extension-sdk 0.2), in _build/pyvenv. Does nothing when it exists.
ensure_venv() ->
    Root = exhook_samples:root(),
    Out = os:cmd(filename:join([Root, "scripts", "python-venv.sh"]) ++ " 2>&1; echo \"exit=$?\""),
    ct:log("python-venv.sh: ~ts", [Out]),
    ?assertNotEqual(nomatch, string:find(Out, "exit=0")),
    Venv = filename:join([Root, "_build", "pyvenv"]),
    [_ | _] = filelib:wildcard(filename:join(Venv, "lib/python3*/site-packages/emqx_extension")),
    Venv.

%% `Path' relative to the node's working directory (the release root in
%% EMQX; the test run's directory here) when it lies under it.
release_relative(Path) ->
    {ok, Cwd} = file:get_cwd(),
    case string:prefix(Path, Cwd ++ "/") of
        nomatch -> Path;
        Relative -> Relative
    end.

%% The article's config: a driver named python3 (its kind follows), the
%% search path, init_module = hooks, and the venv the SDK was installed in.
article_driver(Config) ->
    {python3, [{path, ?config(extension, Config) ++ "/"}, {init_module, "hooks"},
               {venv, ?config(venv, Config)}, {transport, transport()}]}.

%% The Python twin of the gatekeeper example (native/python/examples).
gatekeeper() ->
    {pygate, [{kind, python3}, {path, filename:join(python_dir(), "examples")},
              {init_module, "gatekeeper"}, {transport, transport()}]}.

%% A python3 driver `Name' whose module `Module' is `Source', in a new
%% directory; `Extra' adds driver options.
python_driver(Config, Name, Module, Source, Extra) ->
    Dir = module_dir(Config, Name),
    write_module(Dir, Module, Source),
    {Name, [{kind, python3}, {path, Dir}, {init_module, Module},
            {transport, transport()} | Extra]}.

module_dir(Config, Name) ->
    Dir = filename:join(?config(priv_dir, Config),
                        io_lib:format("~ts-~b", [Name, erlang:unique_integer([positive])])),
    ok = file:make_dir(Dir),
    Dir.

%% Writes `Dir/Module.py'. Every version gets the same modification time:
%% an edit is picked up from the source, not from a timestamp.
write_module(Dir, Module, Source) ->
    File = filename:join(Dir, Module ++ ".py"),
    ok = file:write_file(File, Source),
    ok = file:change_time(File, {{2024, 1, 1}, {0, 0, 0}}).

%% A module whose client_authenticate runs `Body' (indented, with
%% `clientid' set); `Hooks' more hooks it registers on the same function.
auth_module(Module, Body) ->
    ["import sys, os, signal, subprocess, threading, time, logging\n",
     "def init():\n",
     "    return (0, ([('client_authenticate', '", Module, "', 'authenticate', [])], None))\n",
     "def authenticate(clientinfo, so_far, state):\n",
     "    clientid = dict(clientinfo)[b'clientid'].decode()\n",
     Body, "\n"].

auth_driver(Config, Name, Body, Extra) ->
    Module = atom_to_list(Name) ++ "_hooks",
    python_driver(Config, Name, Module, auth_module(Module, Body), Extra).

client(Id) ->
    (hd(exhook_samples:args('client.authenticate')))#{clientid => unicode:characters_to_binary(Id)}.

%% A login as the broker makes it: `{ok, _}' or `{error, not_authorized}';
%% `AllowAnonymous' is the broker's default when the handler has no opinion.
login(Id, AllowAnonymous) ->
    exhook_broker:authenticate(client(Id), AllowAnonymous).

%% Decided by the handler: allowed although the broker's default denies.
assert_allowed(Id) ->
    ?assertMatch({ok, _}, login(Id, false), Id).

%% Refused by the handler or its policy although the broker's default allows.
assert_refused(Id) ->
    ?assertEqual({error, not_authorized}, login(Id, true), Id).

replay_all() ->
    [{Point, exhook_broker:replay(Point, Args)} || {Point, Args} <- exhook_samples:all()].

%% Waits up to 10 s until `Fun()' returns true.
await(Fun) -> await(Fun, 200).

await(Fun, 0) -> ?assert(Fun());
await(Fun, Tries) ->
    case Fun() of
        true -> ok;
        false -> timer:sleep(50), await(Fun, Tries - 1)
    end.

%% Waits for the handler log line `Text' of driver `Driver' at `Level'.
await_line(Driver, Level, Text) ->
    Line = iolist_to_binary(["exhook driver ", atom_to_list(Driver), ": ", Text]),
    Seen = fun(Events) ->
                   lists:any(fun({L, T, #{exhook_driver := D}}) ->
                                     {L, T, D} =:= {Level, Line, atom_to_binary(Driver, utf8)}
                             end, Events)
           end,
    exhook_log_capture:await(Seen, {Level, Line}).

%%--------------------------------------------------------------------
%% The article's CustomHook and the Python gatekeeper: the same cases,
%% samples and expected effects as for their Rust twins
%% (emqx_extension_hook_SUITE), against the Python drivers.

only_implemented_hooks_are_registered(C) -> emqx_extension_hook_SUITE:only_implemented_hooks_are_registered(C).
login_allowed_for_named_client(C) -> emqx_extension_hook_SUITE:login_allowed_for_named_client(C).
login_refused_for_empty_clientid(C) -> emqx_extension_hook_SUITE:login_refused_for_empty_clientid(C).
acl_allowed_for_named_user(C) -> emqx_extension_hook_SUITE:acl_allowed_for_named_user(C).
acl_denied_without_username(C) -> emqx_extension_hook_SUITE:acl_denied_without_username(C).
connect_and_publish_pass_unchanged(C) -> emqx_extension_hook_SUITE:connect_and_publish_pass_unchanged(C).
connection_refused_for_banned_user(C) -> emqx_extension_hook_SUITE:connection_refused_for_banned_user(C).
login_refused_for_banned_user(C) -> emqx_extension_hook_SUITE:login_refused_for_banned_user(C).
subscriptions_denied_rewritten_and_kept(C) -> emqx_extension_hook_SUITE:subscriptions_denied_rewritten_and_kept(C).
message_dropped(C) -> emqx_extension_hook_SUITE:message_dropped(C).
message_rewritten(C) -> emqx_extension_hook_SUITE:message_rewritten(C).
message_outside_topic_filters_untouched(C) -> emqx_extension_hook_SUITE:message_outside_topic_filters_untouched(C).
delivery_rewritten_for_subscriber(C) -> emqx_extension_hook_SUITE:delivery_rewritten_for_subscriber(C).

%% Every captured call, replayed as the broker made it, has the same
%% effect with the Python driver as with its Rust twin; and the twin does
%% decide some of them (the samples' own accumulators are not all kept).
every_sample_is_decided_as_the_rust_twin_decides(Config) ->
    start_plugin([?config(twin, Config)]),
    Rust = replay_all(),
    start_plugin([?config(python, Config)]),
    Python = replay_all(),
    ?assertEqual(Rust, Python),
    Changed = [P || {{P, Result}, {P, Args}} <- lists:zip(Python, exhook_samples:all()),
                    Result =/= ok, Result =/= lists:last(Args)],
    Expected = case ?config(twin, Config) of
                   {custom, _} -> ['client.authenticate'];
                   {gate, _} -> ['client.authenticate', 'client.connect', 'message.delivered']
               end,
    ?assertEqual(Expected, Changed).

%%--------------------------------------------------------------------
%% Every hook, with the real samples, into a Python module that records
%% what it was handed

-define(HOOK_NAMES,
        "('client_connect', 'client_connack', 'client_connected', 'client_disconnected',\n"
        " 'client_authenticate', 'client_check_acl', 'client_subscribe', 'client_unsubscribe',\n"
        " 'session_created', 'session_subscribed', 'session_unsubscribed', 'session_resumed',\n"
        " 'session_discarded', 'session_takeovered', 'session_terminated', 'message_publish',\n"
        " 'message_delivered', 'message_acked', 'message_dropped')").

recorder_module(File) ->
    ["import threading\n",
     "RECORD_TO = ", io_lib:format("~p", [File]), "\n",
     "NAMES = ", ?HOOK_NAMES, "\n",
     "_lock = threading.Lock()\n",
     "def init():\n",
     "    return (0, ([(n, 'py_recorder', 'on_' + n, []) for n in NAMES], 'state'))\n",
     "def _keep(name, args):\n",
     "    assert args[-1] == 'state', 'State is the last argument'\n",
     "    with _lock, open(RECORD_TO, 'a') as f:\n",
     "        f.write('%s %r\\n' % (name, args[:-1]))\n",
     "for _n in NAMES:\n",
     "    globals()['on_' + _n] = (lambda n: lambda *args: _keep(n, args))(_n)\n"].

every_sample_reaches_python_as_the_original_passed_it(Config) ->
    File = filename:join(?config(priv_dir, Config),
                         "py-record-" ++ integer_to_list(erlang:unique_integer([positive]))),
    start_plugin([python_driver(Config, pyrec, "py_recorder", recorder_module(File), [])]),
    ?assertEqual(19, length(exhook_test_plugin:points_with_callbacks())),
    %% The recorder has no opinion: every fold hook keeps its accumulator.
    [?assertEqual(case lists:member(Point, fold_points()) of
                      true -> lists:last(Args);
                      false -> ok
                  end, Result, Point)
     || {{Point, Result}, {Point, Args}} <- lists:zip(replay_all(), exhook_samples:all())],
    Lines = exhook_test_plugin:await_recorded(File, 19),
    Node = ["(Atom(b'node'), Atom(b'", atom_to_list(node()), "'))"],
    Expect =
        [{client_authenticate, ["(Atom(b'clientid'), b'c-bad'), (Atom(b'username'), b'bad'), "
                                "(Atom(b'password'), b''), (Atom(b'peerhost'), b'127.0.0.1'), "
                                "(Atom(b'sockport'), 1883), (Atom(b'protocol'), Atom(b'mqtt')), "
                                "(Atom(b'mountpoint'), b''), (Atom(b'is_superuser'), False), "
                                "(Atom(b'anonymous'), True)]), True)"]},
         {client_check_acl, ["b'subA'", "(Atom(b'anonymous'), False)]), Atom(b'subscribe'), b'p/#', True)"]},
         {client_connack, ["(Atom(b'clientid'), b'c-bad'), (Atom(b'username'), b'bad'), "
                           "(Atom(b'peerhost'), b'127.0.0.1'), (Atom(b'sockport'), 1883), "
                           "(Atom(b'proto_name'), b'MQTT'), (Atom(b'proto_ver'), 4), "
                           "(Atom(b'keepalive'), 60)]), Atom(b'not_authorized'), List([]))"]},
         {client_connect, ["b'c-bad'", "(Atom(b'keepalive'), 60)]), List([]))"]},
         {client_connected, ["b'subA'"]},
         {client_disconnected, ["b'pubA'", "Atom(b'normal'))"]},
         {client_subscribe, ["b'subA'", "List([]), List([(b'p/#', 1)]))"]},
         {client_unsubscribe, ["b'subB'", "List([]), List([(b'r/#', 0)]))"]},
         {session_created, ["b'subA'"]},
         {session_subscribed, ["b'p/#', List([(Atom(b'is_new'), True), (Atom(b'nl'), 0), "
                               "(Atom(b'qos'), 1), (Atom(b'rap'), 0), (Atom(b'rh'), 0)]))"]},
         {session_unsubscribed, ["b'subB'", ", b'r/#')"]},
         {session_resumed, ["b'subA'"]},
         {session_discarded, ["b'subA'"]},
         {session_takeovered, ["b'subA'"]},
         {session_terminated, ["b'pubA'", "Atom(b'normal'))"]},
         {message_publish, ["(Atom(b'id'), b'000661235dc06475f443000006ae0001'), (Atom(b'qos'), 1), "
                            "(Atom(b'from'), b'pubA'), (Atom(b'topic'), b'p/1'), "
                            "(Atom(b'payload'), b'm1'), (Atom(b'timestamp'), 1795654384903)]),)"]},
         {message_delivered, ["b'subA'", "(Atom(b'topic'), b'p/1'), (Atom(b'payload'), b'm1')"]},
         {message_acked, ["b'subA'", "(Atom(b'payload'), b'm1')"]},
         {message_dropped, ["(Atom(b'topic'), b'nobody/here')", "Atom(b'no_subscribers'))"]}],
    [begin
         Prefix = atom_to_binary(Hook, utf8),
         [Line] = [L || L <- Lines, hd(binary:split(L, <<" ">>)) =:= Prefix],
         [?assertNotEqual(nomatch, binary:match(Line, iolist_to_binary(P)), {Hook, P, Line})
          || P <- [Node | Parts]]
     end || {Hook, Parts} <- Expect].

fold_points() ->
    ['client.connect', 'client.connack', 'client.authenticate', 'client.check_acl',
     'client.subscribe', 'client.unsubscribe', 'message.publish', 'message.delivered'].

%%--------------------------------------------------------------------
%% Failures: the driver's failed_action answers, the broker carries on

raising_module() ->
    ["def init():\n",
     "    hooks = ['client_authenticate', 'client_check_acl', 'message_publish']\n",
     "    return (0, ([(h, 'raising', 'fail', []) for h in hooks], None))\n",
     "def fail(*args):\n",
     "    raise RuntimeError('the database is down')\n"].

exception_gets_the_deny_policy(Config) ->
    start_plugin([python_driver(Config, py, "raising", raising_module(), [{failed_action, deny}])]),
    assert_refused("c1"),
    ?assertEqual(deny, exhook_broker:check_acl(client("c1"), publish, <<"t">>, allow)),
    ?assertEqual(dropped, exhook_broker:publish(exhook_samples:message())),
    ?assertMatch(#{calls := 1, failed := 1}, exhook_test_plugin:stats(py, 'client.authenticate')).

exception_gets_the_ignore_policy(Config) ->
    start_plugin([python_driver(Config, py, "raising", raising_module(), [{failed_action, ignore}])]),
    %% No opinion: the broker's own default stands, whichever it is.
    ?assertMatch({ok, _}, login("c1", true)),
    ?assertEqual({error, not_authorized}, login("c1", false)),
    ?assertEqual(allow, exhook_broker:check_acl(client("c1"), publish, <<"t">>, allow)),
    Msg = exhook_samples:message(),
    ?assertEqual({routed, Msg}, exhook_broker:publish(Msg)).

%% The original logged unknown_return_format and let the next one decide;
%% here the answer is a failure, and the policy decides.
unknown_answer_gets_the_policy(Config) ->
    start_plugin([auth_driver(Config, py, "    return 'yes'", [{failed_action, deny}])]),
    assert_refused("c1").

sys_exit_and_keyboard_interrupt_get_the_policy(Config) ->
    Body = "    if clientid == 'exit':\n        sys.exit(3)\n"
           "    if clientid == 'interrupt':\n        raise KeyboardInterrupt\n"
           "    return (0, True)",
    start_plugin([auth_driver(Config, py, Body, [{failed_action, deny}])]),
    assert_refused("exit"),
    assert_refused("interrupt"),
    %% The interpreter, and the node, carry on.
    assert_allowed("c1"),
    ?assertMatch(#{failed := 2, succeeded := 1}, exhook_test_plugin:stats(py, 'client.authenticate')).

%% A handler that sleeps past call_timeout is answered by the policy in
%% time, and so is every other client's login made meanwhile: by the
%% handler, as the sleeping call holds no lock other calls need (a client
%% whose calls share the sleeping one's worker waits behind it, and may
%% get the policy instead: the pool keeps each client's calls in order by
%% giving each client one worker).
slow_handler_is_answered_by_call_timeout_without_holding_other_clients(Config) ->
    Body = "    if clientid.startswith('slow'):\n        time.sleep(3)\n    return (0, True)",
    start_plugin([auth_driver(Config, py, Body, [{failed_action, deny}, {call_timeout, 300}])]),
    assert_allowed("warm-up"),
    Parent = self(),
    Slow = spawn_link(fun() -> Parent ! {self(), timed_login("slow-1", true)} end),
    timer:sleep(50),
    Others = [timed_login("other-" ++ integer_to_list(I), false) || I <- lists:seq(1, 16)],
    receive
        {Slow, {SlowMs, SlowResult}} ->
            ct:log("slow call: ~p in ~b ms; others: ~p", [SlowResult, SlowMs, Others]),
            ?assertEqual({error, not_authorized}, SlowResult),
            ?assert(SlowMs =< 300 + ?MARGIN_MS)
    after 10000 ->
        ct:fail(slow_call_not_answered)
    end,
    ?assert(lists:max([Ms || {Ms, _} <- Others]) =< 300 + ?MARGIN_MS),
    Decided = [R || {_, {ok, _} = R} <- Others],
    ?assert(length(Decided) >= length(Others) div 2),
    ?assertMatch(#{timed_out := T} when T >= 1, exhook_test_plugin:stats(py, 'client.authenticate')).

timed_login(Id, AllowAnonymous) ->
    T0 = erlang:monotonic_time(millisecond),
    Result = login(Id, AllowAnonymous),
    {erlang:monotonic_time(millisecond) - T0, Result}.

%% A call waiting in Python (GIL released) lets other clients' calls run
%% Python meanwhile: the waiting call is woken by one of them, well within
%% its call_timeout; were the interpreter held, it would wait in vain.
%% (On the Port transport each process has one worker and an interpreter
%% of its own.)
a_waiting_handler_lets_other_clients_calls_run(Config) ->
    Body = "    if clientid == 'sleeper':\n        return (0, WOKEN.wait(10))\n"
           "    WOKEN.set()\n    return (0, True)\n"
           "WOKEN = threading.Event()",
    start_plugin([auth_driver(Config, py, Body, [{failed_action, deny}, {call_timeout, 5000}])]),
    Parent = self(),
    Sleeper = spawn_link(fun() -> Parent ! {self(), timed_login("sleeper", false)} end),
    timer:sleep(100),
    Wakers = [spawn_link(fun() -> Parent ! {self(), timed_login("waker-" ++ integer_to_list(I), false)} end)
              || I <- lists:seq(1, 8)],
    {SleeperMs, SleeperResult} = receive {Sleeper, R} -> R after 15000 -> ct:fail(sleeper_stuck) end,
    _ = [receive {W, _} -> ok after 15000 -> ct:fail(waker_stuck) end || W <- Wakers],
    ct:log("sleeper: ~p after ~b ms", [SleeperResult, SleeperMs]),
    ?assertMatch({ok, _}, SleeperResult),
    ?assert(SleeperMs < 5000).

%%--------------------------------------------------------------------
%% What goes wrong when CPython runs inside the VM, each a driver in the
%% broker (on the Port transport, in the launcher's processes)

%% print(), sys.stderr and logging reach OTP logger (the broker's log),
%% one event a line, at info, warning and each record's level, with the
%% driver, the hook and the clientid in the metadata; still so after the driver was disabled and
%% enabled (a new instance).
print_and_stderr_reach_the_logger_line_by_line_and_survive_disable(Config) ->
    Body = "    print('hello', clientid)\n    print('two\\nlines')\n"
           "    print('part', end='')\n    print('ial')\n"
           "    sys.stderr.write('careful\\n')\n"
           "    logging.getLogger('acl').warning('checked %s', clientid)\n"
           "    return (0, True)",
    exhook_log_capture:install(),
    %% The broker logs info (drivers start with its level).
    Level = maps:get(level, logger:get_primary_config()),
    ok = logger:set_primary_config(level, info),
    try start_plugin([auth_driver(Config, py, Body, [])]),
        print_and_stderr_rounds()
    after
        logger:set_primary_config(level, Level)
    end.

print_and_stderr_rounds() ->
    Expect = fun(Round) ->
                     assert_allowed(Round),
                     [await_line(py, Level, Text)
                      || {Level, Text} <- [{info, "hello " ++ Round}, {info, "two"},
                                           {info, "lines"}, {info, "partial"},
                                           {warning, "careful"},
                                           {warning, "acl: checked " ++ Round}]],
                     %% Each line knows the call it came from.
                     Client = list_to_binary(Round),
                     Metas = [Meta || {_, T, Meta} <- exhook_log_capture:events(),
                                      Text <- [<<"hello ", Client/binary>>, <<"acl: checked ", Client/binary>>],
                                      binary:match(T, Text) =/= nomatch],
                     ?assertEqual(2, length(Metas)),
                     [?assertMatch(#{exhook_hook := <<"client.authenticate">>, clientid := Client}, Meta)
                      || Meta <- Metas]
             end,
    Expect("first"),
    ok = emqx_extension_hook:disable(py),
    ok = emqx_extension_hook:enable(py),
    Expect("second"),
    %% One event a line: no event holds a newline.
    [?assertEqual(nomatch, binary:match(T, <<"\n">>), T) || {_, T, _} <- exhook_log_capture:events()].

recursion_to_pythons_limit_is_a_failure_not_a_crash(Config) ->
    Body = "    def deeper(n):\n        return deeper(n + 1)\n"
           "    if clientid == 'python':\n        deeper(0)\n"
           "    if clientid == 'c':\n"
           "        nested = []\n"
           "        for _ in range(100000):\n            nested = [nested]\n"
           "        repr(nested)\n"
           "    return (0, True)",
    start_plugin([auth_driver(Config, py, Body, [{failed_action, deny}])]),
    assert_refused("python"),
    %% Recursion in C code (repr) stops at the limit too.
    assert_refused("c"),
    assert_allowed("c1").

%% The VM ignores SIGCHLD: unless the driver puts back its default, the
%% kernel reaps children at once and returncode reads 0 for `exit 3'.
subprocess_returns_the_childs_real_exit_code(Config) ->
    Body = "    code = subprocess.run(['sh', '-c', 'exit 3']).returncode\n"
           "    return (0, code == 3)",
    start_plugin([auth_driver(Config, py, Body, [])]),
    assert_allowed("c1").

c_extension_modules_import_and_work(Config) ->
    Body = "    import sqlite3, json, ssl, hashlib\n"
           "    (one,) = sqlite3.connect(':memory:').execute('select 1').fetchone()\n"
           "    ok = one == 1 and json.loads('[1]') == [1]\n"
           "    ok = ok and ssl.create_default_context() is not None\n"
           "    return (0, ok and hashlib.sha256(b'').hexdigest().startswith('e3b0'))",
    start_plugin([auth_driver(Config, py, Body, [])]),
    assert_allowed("c1").

%% A thread the handler starts runs while no call is in Python.
a_thread_the_handler_starts_runs_between_calls(Config) ->
    Body = "    global counter\n"
           "    if clientid == 'start':\n"
           "        counter = [0]\n"
           "        def count():\n"
           "            while counter[0] < 50:\n"
           "                counter[0] += 1\n"
           "                time.sleep(0.001)\n"
           "        threading.Thread(target=count, daemon=True).start()\n"
           "        return None\n"
           "    return (0, counter[0] >= 50)",
    %% One process on the Port transport, so that every call sees the thread.
    start_plugin([auth_driver(Config, py, Body, [{pool_size, 1}])]),
    ?assertMatch({ok, _}, login("start", true)),
    await(fun() -> element(1, login("peek", false)) =:= ok end).

%%--------------------------------------------------------------------
%% Picking up edited code

%% hooks.py answering `Answer' to every login, importing a helper module
%% whose state init() sets: an instance whose modules were dropped from
%% under it would import a fresh helper and deny.
edited_hooks(Answer) ->
    ["import py_edited_helper\n",
     "def init():\n",
     "    py_edited_helper.READY = True\n",
     "    return (0, ([('client_authenticate', 'hooks', 'authenticate', [])], None))\n",
     "def authenticate(clientinfo, so_far, state):\n",
     "    import py_edited_helper\n",
     "    return (0, ", Answer, " and py_edited_helper.READY)\n"].

edited_driver(Config) ->
    Dir = module_dir(Config, "edited"),
    write_module(Dir, "py_edited_helper", "READY = False\n"),
    write_module(Dir, "hooks", edited_hooks("False")),
    {Dir, {python3, [{path, Dir}, {init_module, "hooks"}, {transport, transport()}]}}.

disable_then_enable_picks_up_an_edited_hooks_py(Config) ->
    {Dir, Driver} = edited_driver(Config),
    start_plugin([Driver]),
    assert_refused("c1"),
    %% Same size, same modification time: only the source tells.
    write_module(Dir, "hooks", edited_hooks("True ")),
    assert_refused("c1"),
    ok = emqx_extension_hook:disable(python3),
    ok = emqx_extension_hook:enable(python3),
    assert_allowed("c1").

reload_picks_up_an_edited_hooks_py(Config) ->
    {Dir, Driver} = edited_driver(Config),
    start_plugin([Driver]),
    assert_refused("c1"),
    write_module(Dir, "hooks", edited_hooks("True ")),
    ok = emqx_extension_hook:reload(python3),
    assert_allowed("c1"),
    write_module(Dir, "hooks", edited_hooks("False")),
    ok = emqx_extension_hook:reload(python3),
    assert_refused("c1"),
    %% Refused by the handler, not by the failure policy.
    ?assertMatch(#{succeeded := 1, failed := 0}, exhook_test_plugin:stats(python3, 'client.authenticate')).

%% An edit that breaks hooks.py: the reload says why, and the running
%% instance goes on deciding; fixed, the next reload takes it.
reload_of_a_broken_hooks_py_keeps_the_old_instance_serving(Config) ->
    {Dir, Driver} = edited_driver(Config),
    write_module(Dir, "hooks", edited_hooks("True ")),
    start_plugin([Driver]),
    assert_allowed("c1"),
    write_module(Dir, "hooks", "def init(:\n"),
    {error, Reason} = emqx_extension_hook:reload(python3),
    Text = emqx_extension_hook_errors:text(<<"python3">>, Reason),
    ?assertNotEqual(nomatch, string:find(Text, "syntax error in " ++ filename:join(Dir, "hooks.py")), Text),
    assert_allowed("c1"),
    ?assertMatch([#{name := <<"python3">>, enabled := true, error := {init_failed, _}}],
                 emqx_extension_hook:list()),
    write_module(Dir, "hooks", edited_hooks("False")),
    ok = emqx_extension_hook:reload(python3),
    assert_refused("c1"),
    %% Refused by the handler, not by the failure policy.
    ?assertMatch(#{succeeded := 1, failed := 0}, exhook_test_plugin:stats(python3, 'client.authenticate')).

%% A reload starts the new instance (a fresh import of the same module)
%% while the old one answers, then stops the old one: logins made all the
%% while are decided by the handler, never by the policy.
reload_under_load_answers_every_call_with_a_decision(Config) ->
    {Dir, Driver} = edited_driver(Config),
    write_module(Dir, "hooks", edited_hooks("True ")),
    start_plugin([setelement(2, Driver, [{failed_action, deny} | element(2, Driver)])]),
    Parent = self(),
    Until = erlang:monotonic_time(millisecond) + 2000,
    Callers = [spawn_link(fun() -> Parent ! {self(), call_until(Until, I, #{})} end)
               || I <- lists:seq(1, 8)],
    [begin ok = emqx_extension_hook:reload(python3), timer:sleep(200) end
     || _ <- lists:seq(1, 4)],
    Answers = lists:foldl(fun(C, Acc) ->
                                  receive {C, A} -> maps:merge_with(fun(_, X, Y) -> X + Y end, A, Acc)
                                  after 30000 -> ct:fail({caller_stuck, C})
                                  end
                          end, #{}, Callers),
    ct:log("answers during the reloads: ~p", [Answers]),
    ?assertMatch([allowed], maps:keys(Answers)),
    assert_allowed("after").

call_until(Until, I, Answers) ->
    case erlang:monotonic_time(millisecond) > Until of
        true -> Answers;
        false ->
            Answer = case login("c-" ++ integer_to_list(I), false) of
                         {ok, _} -> allowed;
                         {error, _} -> refused
                     end,
            call_until(Until, I + 1, maps:update_with(Answer, fun(N) -> N + 1 end, 1, Answers))
    end.

%%--------------------------------------------------------------------
%% A module that cannot start: the driver refuses, the broker is not touched

%% `emqx_ctl plugins load emqx_extension_hook' with a python3 driver
%% whose hooks.py is `Source'; what it printed, and the reason the driver
%% gives when enabled by hand.
load_with_hooks(Config, Source) ->
    Dir = module_dir(Config, "broken"),
    Source =/= none andalso write_module(Dir, "hooks", Source),
    Driver = {python3, [{path, Dir}, {init_module, "hooks"}, {transport, transport()}]},
    exhook_test_plugin:stop(),
    _ = application:load(?APP),
    ok = application:set_env(?APP, drivers, [Driver]),
    Out = emqx_ctl:run(["plugins", "load", "emqx_extension_hook"]),
    ct:log("plugins load: ~ts", [Out]),
    ?assertNotEqual(nomatch, string:find(Out, "Load plugin emqx_extension_hook error")),
    ?assertNotEqual(nomatch, string:find(Out, "exhook driver python3 cannot be enabled")),
    ?assertNot(lists:keymember(?APP, 1, application:which_applications())),
    exhook_test_plugin:sync_hooks(),
    ?assertEqual([], exhook_test_plugin:points_with_callbacks()),
    %% The broker's own defaults decide.
    ?assertMatch({ok, _}, login("c1", true)),
    %% The same driver, optional, enabled by hand: its reason in words.
    start_plugin([{python3, [{optional, true} | element(2, Driver)]}]),
    {error, Reason} = emqx_extension_hook:enable(python3),
    Text = emqx_extension_hook_errors:text(<<"python3">>, Reason),
    ct:log("enable: ~ts", [Text]),
    {Dir, Out, Text}.

assert_parts(Text, Parts) ->
    [?assertNotEqual(nomatch, string:find(Text, P), {P, Text}) || P <- Parts].

malformed_init_return_refuses_to_load(Config) ->
    {_, Out, Text} = load_with_hooks(Config, "def init():\n    return [('client_connected', 'hooks', 'f', [])]\n"),
    Why = "init() returned list of 1 items: expected (0, (HookSpecs, State))",
    assert_parts(Out, [Why]),
    assert_parts(Text, ["the handler's init failed: python3 driver python3: " ++ Why]).

missing_module_refuses_to_load(Config) ->
    {Dir, Out, Text} = load_with_hooks(Config, none),
    Why = "no module hooks (hooks.py) in " ++ Dir,
    assert_parts(Out, [Why]),
    assert_parts(Text, ["the handler's init failed: python3 driver python3: " ++ Why]).

syntax_error_refuses_to_load(Config) ->
    {Dir, Out, Text} = load_with_hooks(Config, "def init():\n    return (0, ([], None)\n"),
    File = filename:join(Dir, "hooks.py"),
    assert_parts(Out, ["syntax error in " ++ File, "SyntaxError"]),
    assert_parts(Text, ["the handler's init failed: python3 driver python3: syntax error in "
                        ++ File ++ ", line 2", "return (0, ([], None)", "SyntaxError: "]).

optional_python_driver_that_fails_leaves_the_others(Config) ->
    Broken = python_driver(Config, python3, "hooks", "def init():\n    return None\n",
                           [{optional, true}]),
    start_plugin([Broken, custom()]),
    ?assertMatch([#{name := <<"python3">>, enabled := false, error := {init_failed, _}},
                  #{name := <<"custom">>, enabled := true}],
                 emqx_extension_hook:list()),
    ?assertMatch({ok, _}, login("c1", false)),
    List = emqx_ctl:run(["exhook", "drivers", "list"]),
    ct:log("~ts", [List]),
    ?assertNotEqual(nomatch, string:find(List, "init() returned None: expected (0, (HookSpecs, State))")).

%%--------------------------------------------------------------------
%% Out of process: code that kills its process

os_exit_in_a_handler_takes_down_only_its_process(Config) ->
    Body = "    if clientid == 'die':\n        os._exit(7)\n    return (0, True)",
    start_plugin([auth_driver(Config, py, Body, [{pool_size, 1}, {failed_action, deny},
                                                 {call_timeout, 1000}])]),
    assert_allowed("c1"),
    assert_refused("die"),
    %% The launcher's process is restarted; the handler decides again.
    await(fun() -> element(1, login("c2", false)) =:= ok end),
    [#{restarts := Restarts}] = emqx_extension_hook:stats(),
    ?assert(Restarts >= 1).

%%--------------------------------------------------------------------
%% The VM's signals stay the VM's

%% In a VM of its own (SIGTERM stops it): a handler that makes SIGTERM
%% ignored, at init and at every call, changes nothing; the VM still
%% stops on SIGTERM as OTP has it (init:stop/0).
a_handler_cannot_change_what_the_vm_does_on_sigterm(Config) ->
    Body = "    try:\n        signal.signal(signal.SIGTERM, signal.SIG_IGN)\n        replaced = True\n"
           "    except ValueError:\n        replaced = False\n"
           "    return (0, not replaced)",
    {Name, Opts} = auth_driver(Config, py, Body, []),
    Paths = [P || P <- code:get_path(), not lists:prefix(code:lib_dir(), P)],
    {ok, Peer, _} = peer:start(#{connection => standard_io,
                              args => lists:append([["-pa", P] || P <- Paths])}),
    MRef = monitor(process, Peer),
    ok = peer:call(Peer, exhook_broker, start, []),
    ok = peer:call(Peer, exhook_test_plugin, start, [[{Name, Opts}]]),
    %% The handler found it could not replace the VM's handler.
    ?assertMatch({ok, _}, peer:call(Peer, exhook_broker, authenticate, [client("c1"), false])),
    OsPid = peer:call(Peer, os, getpid, []),
    _ = os:cmd("kill -TERM " ++ OsPid),
    receive
        {'DOWN', MRef, process, Peer, _} -> ok
    after 20000 ->
        peer:stop(Peer),
        ct:fail(sigterm_did_not_stop_the_vm)
    end.
