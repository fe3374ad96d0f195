%% Java handlers over the Port protocol, without the plugin around them:
%% the JVM is started with emqx_extension_hook_java:command/1 and
%% open_port, as the Port transport starts it, and the suite speaks the
%% protocol (runtime/port.rs) to it directly. Replies are compared with
%% what the Rust examples answer over the same protocol (the
%% emqx_exhook_port launcher), and with the terms the broker folds.
-module(emqx_extension_hook_java_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-compile([export_all, nowarn_export_all]).

-define(WAIT_MS, 20000).

all() ->
    [command_builds_the_jvm_command_line, command_reports_what_is_missing,
     sample_handler_answers_every_sample_as_the_rust_custom_hook,
     sample_handler_prints_every_event_to_the_log,
     gatekeeper_answers_every_sample_as_the_rust_gatekeeper,
     gatekeeper_decisions_are_the_brokers_terms,
     casts_get_no_answer_and_reach_the_handler,
     other_clients_are_answered_while_one_call_sleeps,
     a_handler_blocking_every_call_holds_at_most_pool_max_threads,
     every_call_is_answered_once_while_reading_moves_between_threads,
     system_out_and_err_become_log_frames,
     an_exception_answers_error_and_logs_the_trace,
     ids_are_echoed_byte_for_byte,
     a_full_queue_answers_busy_and_drops_casts,
     init_errors_name_the_problem,
     deinit_finishes_queued_calls_and_exits,
     closing_the_port_stops_the_jvm].

init_per_suite(Config) ->
    Root = exhook_samples:root(),
    Examples = filename:join([Root, "_build", "java", "examples"]),
    ?assert(filelib:is_regular(filename:join(Examples, "emqx-extension-java-examples.jar")),
            "run `make java` first"),
    Probe = exhook_samples:compile_java_fixture("Probe", filename:join(?config(priv_dir, Config), "probe")),
    [{examples, Examples}, {probe, Probe} | Config].

end_per_suite(_Config) ->
    ok.

init_per_testcase(_Case, Config) ->
    Config.

end_per_testcase(_Case, _Config) ->
    [catch port_close(P) || P <- erlang:ports(), erlang:port_info(P, connected) =:= {connected, self()}],
    erase(),
    ok.

%%--------------------------------------------------------------------
%% The protocol, as the Port transport speaks it

%% Starts handler class `Class' from the examples and the probe; the port
%% and its answer to init.
start(Config, Class) ->
    start(Config, Class, #{}, []).

start(Config, Class, Opts, Settings) ->
    {ok, Exe, Args} = emqx_extension_hook_java:command(
                        #{path => [?config(examples, Config), ?config(probe, Config)],
                          init_module => Class}),
    Init = {init, <<"java">>, Settings, maps:merge(#{pool_size => 1, queue_capacity => 1024}, Opts)},
    open(Exe, Args, Init).

start_ok(Config, Class) ->
    start_ok(Config, Class, #{}, []).

start_ok(Config, Class, Opts, Settings) ->
    {Port, {init_ok, Declared}} = start(Config, Class, Opts, Settings),
    {Port, Declared}.

%% A Rust example library behind the SDK's own Port launcher: the reference.
start_rust(Library) ->
    Launcher = filename:join(code:priv_dir(emqx_extension_hook), "emqx_exhook_port"),
    {Port, {init_ok, Declared}} =
        open(Launcher, [exhook_samples:library(Library)],
             {init, <<"rust">>, [], #{pool_size => 1, queue_capacity => 1024}}),
    {Port, Declared}.

open(Exe, Args, Init) ->
    Port = open_port({spawn_executable, Exe},
                     [{args, Args}, {packet, 4}, binary, exit_status, use_stdio]),
    true = port_command(Port, term_to_binary(Init)),
    {Port, await(Port, fun({init_ok, _}) -> true; ({init_error, _}) -> true; (_) -> false end)}.

index(Point) ->
    hd([I || #{point := P, index := I} <- emqx_extension_hook_hooks:all(), P =:= Point]).

send_call(Port, Point, Args) ->
    Id = make_ref(),
    true = port_command(Port, term_to_binary({call, Id, index(Point), list_to_tuple(Args), 10000})),
    Id.

call(Port, Point, Args) ->
    reply(Port, send_call(Port, Point, Args)).

cast(Port, Point, Args) ->
    true = port_command(Port, term_to_binary({cast, index(Point), list_to_tuple(Args), 10000})).

reply(Port, Id) ->
    {reply, Id, Result} = await(Port, fun({reply, I, _}) -> I =:= Id; (_) -> false end),
    Result.

%% The first frame `Pred' accepts; frames read meanwhile are kept, in
%% order, for later awaits (replies come in any order, logs at any time).
%% Frames are decoded as the plugin decodes them: with no new atoms.
await(Port, Pred) ->
    await(Port, Pred, ?WAIT_MS).

await(Port, Pred, Timeout) ->
    case lists:splitwith(fun(F) -> not Pred(F) end, frames(Port)) of
        {Before, [Found | After]} ->
            put({frames, Port}, Before ++ After),
            Found;
        {_, []} ->
            receive_frame(Port, Pred, erlang:monotonic_time(millisecond) + Timeout)
    end.

receive_frame(Port, Pred, Deadline) ->
    receive
        {Port, {data, Bin}} ->
            Frame = binary_to_term(Bin, [safe]),
            case Pred(Frame) of
                true -> Frame;
                false -> put({frames, Port}, frames(Port) ++ [Frame]),
                         receive_frame(Port, Pred, Deadline)
            end;
        {Port, {exit_status, Status}} ->
            ct:fail({jvm_exited, Status, frames(Port)})
    after max(0, Deadline - erlang:monotonic_time(millisecond)) ->
        ct:fail({no_frame_in_time, frames(Port)})
    end.

frames(Port) ->
    case get({frames, Port}) of undefined -> []; Frames -> Frames end.

%% Every frame that arrives within `Ms'.
drain(Port, Ms) ->
    receive {Port, {data, Bin}} -> put({frames, Port}, frames(Port) ++ [binary_to_term(Bin, [safe])]),
                                   drain(Port, Ms)
    after Ms -> frames(Port)
    end.

log_text({log, _Level, Text}) -> Text;
log_text({log, _Level, Text, _Meta}) -> Text.

contains(Text, Part) ->
    binary:match(Text, unicode:characters_to_binary(Part)) =/= nomatch.

await_exit(Port) ->
    receive {Port, {exit_status, Status}} -> Status
    after ?WAIT_MS -> ct:fail({no_exit, frames(Port)})
    end.

%%--------------------------------------------------------------------
%% The command line

command_builds_the_jvm_command_line(Config) ->
    Priv = ?config(priv_dir, Config),
    D = filename:join(Priv, "handlers"),
    E = filename:join(Priv, "more"),
    [ok = file:make_dir(Dir) || Dir <- [D, E, filename:join(D, "sub")]],
    [ok = file:write_file(filename:join(D, F), <<>>) || F <- ["b.zip", "a.jar", "notes.txt"]],
    {ok, Java, Args} = emqx_extension_hook_java:command(#{path => D ++ ":" ++ E, jvm_args => "-Xmx64m  -Dx=y"}),
    ?assertEqual(os:find_executable("java"), Java),
    Sdk = emqx_extension_hook_java:sdk_jar(),
    ClassPath = lists:join(":", [Sdk, D, filename:join(D, "a.jar"), filename:join(D, "b.zip"), E]),
    %% JVM messages kept off stdout, the user's options, then the class path,
    %% the driver's main class and the handler (default Main).
    ?assertEqual(["-Xlog:disable", "-Xlog:all=warning:stderr:uptime,level,tags",
                  "-XX:+DisplayVMOutputToStderr", "-Xmx64m", "-Dx=y",
                  "-cp", lists:flatten(ClassPath), "io.emqx.extension.driver.PortDriver", "Main"], Args),
    %% A list of directories, binaries and a relative path say the same.
    {ok, Cwd} = file:get_cwd(),
    Rel = string:prefix(D, Cwd ++ "/"),
    ?assertNotEqual(nomatch, Rel),
    {ok, _, Args2} = emqx_extension_hook_java:command(#{path => [Rel, list_to_binary(E)],
                                                        init_module => <<"pkg.Handler$Inner">>}),
    ?assertEqual(["-cp", lists:flatten(ClassPath), "io.emqx.extension.driver.PortDriver", "pkg.Handler$Inner"],
                 lists:nthtail(3, Args2)),
    %% $JAVA_HOME/bin/java comes first, then an explicit `java' beats both.
    Home = filename:join(Priv, "jdk"),
    FakeJava = filename:join([Home, "bin", "java"]),
    ok = filelib:ensure_dir(FakeJava),
    ok = file:write_file(FakeJava, <<"#!/bin/sh\n">>),
    ok = file:change_mode(FakeJava, 8#755),
    with_env("JAVA_HOME", Home,
             fun() ->
                     ?assertMatch({ok, FakeJava, _}, emqx_extension_hook_java:command(#{})),
                     Sh = os:find_executable("sh"),
                     ?assertMatch({ok, Sh, _}, emqx_extension_hook_java:command(#{java => "sh"})),
                     ?assertMatch({ok, FakeJava, _}, emqx_extension_hook_java:command(#{java => FakeJava}))
             end).

command_reports_what_is_missing(Config) ->
    Missing = filename:join(?config(priv_dir, Config), "missing"),
    ?assertEqual({error, {not_a_directory, Missing}},
                 emqx_extension_hook_java:command(#{path => Missing})),
    ?assertMatch({error, {java_not_found, _}},
                 emqx_extension_hook_java:command(#{java => "/nonexistent/java"})),
    ?assertMatch({error, {invalid, init_module, _}},
                 emqx_extension_hook_java:command(#{init_module => "Main; rm -rf /"})),
    ?assertMatch({error, {invalid, jvm_args, _}},
                 emqx_extension_hook_java:command(#{jvm_args => 42})),
    with_env("JAVA_HOME", false,
             fun() ->
                     with_env("PATH", "/nonexistent",
                              fun() ->
                                      ?assertMatch({error, {java_not_found, _}},
                                                   emqx_extension_hook_java:command(#{}))
                              end)
             end).

with_env(Name, Value, Fun) ->
    Old = os:getenv(Name),
    case Value of false -> os:unsetenv(Name); _ -> os:putenv(Name, Value) end,
    try Fun()
    after
        case Old of false -> os:unsetenv(Name); _ -> os:putenv(Name, Old) end
    end.

%%--------------------------------------------------------------------
%% The original's example, against the Rust custom_hook

sample_handler_answers_every_sample_as_the_rust_custom_hook(Config) ->
    {Java, Declared} = start_ok(Config, "SampleHandler"),
    %% Every hook registered, in the broker's index order.
    ?assertEqual([{atom_to_binary(P, utf8), pool} || #{point := P} <- emqx_extension_hook_hooks:all()],
                 Declared),
    {Rust, RustDeclared} = start_rust(emqx_example_custom_hook),
    RustHooks = [N || {N, _} <- RustDeclared],
    ?assertEqual(5, length(RustHooks)),
    [case lists:member(atom_to_binary(Point, utf8), RustHooks) of
         true -> ?assertEqual({Point, call(Rust, Point, Args)}, {Point, call(Java, Point, Args)});
         false -> ?assertEqual({Point, ok}, {Point, call(Java, Point, Args)})
     end || {Point, Args} <- exhook_samples:all()],
    %% And the decisions themselves: a clientid lets a login in; an ACL
    %% check needs a username.
    [ClientInfo, Acc] = exhook_samples:args('client.authenticate'),
    ?assertEqual({stop, Acc#{auth_result => success, anonymous => false, is_superuser => false}},
                 call(Java, 'client.authenticate', [ClientInfo, Acc])),
    ?assertEqual({stop, Acc#{auth_result => not_authorized, anonymous => false, is_superuser => false}},
                 call(Java, 'client.authenticate', [ClientInfo#{clientid => <<>>}, Acc])),
    Acl = exhook_samples:args('client.check_acl'),
    ?assertEqual({stop, allow}, call(Java, 'client.check_acl', Acl)),
    ?assertEqual({stop, deny}, call(Java, 'client.check_acl', [(hd(Acl))#{username => undefined} | tl(Acl)])),
    %% '#' is the original's default filter: a $SYS message is not entered.
    SysMsg = setelement(7, exhook_samples:message(), <<"$SYS/brokers">>),
    ?assertEqual(ok, call(Java, 'message.publish', [SysMsg])).

sample_handler_prints_every_event_to_the_log(Config) ->
    {Java, _} = start_ok(Config, "SampleHandler"),
    [ok = call(Java, Point, Args) || {Point, Args} <- exhook_samples:all(),
                                     not lists:member(Point, ['client.authenticate', 'client.check_acl'])],
    [ClientInfo, Acc] = exhook_samples:args('client.authenticate'),
    {stop, _} = call(Java, 'client.authenticate', [ClientInfo#{password => <<"s3cret-pw">>}, Acc]),
    {stop, _} = call(Java, 'client.check_acl', exhook_samples:args('client.check_acl')),
    Hooks = [atom_to_binary(P, utf8) || {P, _} <- exhook_samples:all()],
    Logs = [await(Java, fun({log, info, <<"[Java] on", _/binary>>, #{hook := H}}) -> H =:= Hook;
                           (_) -> false
                        end) || Hook <- Hooks],
    ?assertEqual(19, length(Logs)),
    %% Printed at info level: never a password or a payload.
    [?assertNot(contains(log_text(L), "s3cret-pw") orelse contains(log_text(L), "m1"), L) || L <- Logs],
    [{log, info, Line, #{clientid := <<"c-bad">>}}] =
        [L || L = {log, _, _, #{hook := <<"client.authenticate">>}} <- Logs],
    ?assert(contains(Line, "c-bad")).

%%--------------------------------------------------------------------
%% The gatekeeper: every decision kind

gatekeeper_answers_every_sample_as_the_rust_gatekeeper(Config) ->
    {Java, Declared} = start_ok(Config, "Gatekeeper"),
    {Rust, RustDeclared} = start_rust(emqx_example_gatekeeper),
    ?assertEqual(RustDeclared, Declared),
    Registered = [N || {N, _} <- Declared],
    [case lists:member(atom_to_binary(Point, utf8), Registered) of
         true -> ?assertEqual({Point, call(Rust, Point, Args)}, {Point, call(Java, Point, Args)});
         %% The Rust launcher does not answer a hook the handler lacks (the
         %% plugin never sends one); the JVM answers at once, so no caller waits.
         false -> ?assertMatch({Point, {error, {badarg, _}}}, {Point, call(Java, Point, Args)})
     end || {Point, Args} <- exhook_samples:all() ++ gatekeeper_variants()].

%% Arguments on which the gatekeeper decides something else than on the samples.
gatekeeper_variants() ->
    [ConnInfo, Props] = exhook_samples:args('client.connect'),
    [ClientInfo, SubProps, [{_, Opts}]] = exhook_samples:args('client.subscribe'),
    [AuthInfo, Acc] = exhook_samples:args('client.authenticate'),
    Msg = exhook_samples:message(),
    [_, Delivered] = exhook_samples:args('message.delivered'),
    [{'client.connect', [ConnInfo#{username => <<"good">>}, Props]},
     {'client.authenticate', [AuthInfo#{username => <<"good">>}, Acc]},
     {'client.subscribe', [ClientInfo, SubProps, [{<<"p/#">>, Opts}, {<<"#">>, Opts},
                                                  {<<"private/inbox">>, Opts}]]},
     {'client.subscribe', [ClientInfo#{username => undefined}, SubProps, [{<<"private/x">>, Opts}]]},
     {'message.publish', [setelement(7, Msg, <<"blocked/x">>)]},
     {'message.publish', [setelement(7, Msg, <<"legacy/a/b">>)]},
     {'message.delivered', [ClientInfo, setelement(7, Delivered, <<"q/1">>)]}].

gatekeeper_decisions_are_the_brokers_terms(Config) ->
    {Java, _} = start_ok(Config, "Gatekeeper"),
    [ConnInfo, Props] = exhook_samples:args('client.connect'),
    ?assertEqual({stop, {error, 16#8A}}, call(Java, 'client.connect', [ConnInfo, Props])),
    ?assertEqual(ok, call(Java, 'client.connect', [ConnInfo#{username => <<"good">>}, Props])),
    [AuthInfo, Acc] = exhook_samples:args('client.authenticate'),
    ?assertEqual({stop, Acc#{auth_result => not_authorized, anonymous => false, is_superuser => false}},
                 call(Java, 'client.authenticate', [AuthInfo, Acc])),
    ?assertEqual(ok, call(Java, 'client.authenticate', [AuthInfo#{username => <<"good">>}, Acc])),
    [ClientInfo, SubProps, [{Filter, Opts}]] = exhook_samples:args('client.subscribe'),
    ?assertEqual(ok, call(Java, 'client.subscribe', [ClientInfo, SubProps, [{Filter, Opts}]])),
    ?assertEqual({ok, [{<<"p/#">>, Opts}, {<<"#">>, Opts#{deny_subscription => true}},
                       {<<"users/good/inbox">>, Opts}]},
                 call(Java, 'client.subscribe', [ClientInfo, SubProps, [{<<"p/#">>, Opts}, {<<"#">>, Opts},
                                                                        {<<"private/inbox">>, Opts}]])),
    Msg = exhook_samples:message(),
    Blocked = setelement(7, Msg, <<"blocked/x">>),
    ?assertEqual({stop, setelement(6, Blocked, (element(6, Blocked))#{allow_publish => false})},
                 call(Java, 'message.publish', [Blocked])),
    ?assertEqual({ok, setelement(7, setelement(3, Msg, 1), <<"v2/a/b">>)},
                 call(Java, 'message.publish', [setelement(7, Msg, <<"legacy/a/b">>)])),
    ?assertEqual(ok, call(Java, 'message.publish', [Msg])),
    [Subscriber, Delivered] = exhook_samples:args('message.delivered'),
    ?assertEqual({ok, setelement(8, Delivered, <<"m1 (for subA)">>)},
                 call(Java, 'message.delivered', [Subscriber, Delivered])).

%%--------------------------------------------------------------------
%% Concurrency, notifications, logging, failures

casts_get_no_answer_and_reach_the_handler(Config) ->
    {Java, _} = start_ok(Config, "SampleHandler"),
    [cast(Java, Point, Args) || {Point, Args} <- exhook_samples:all()],
    cast(Java, 'client.connected', [not_a_client_info, #{}]),
    Hooks = lists:sort([atom_to_binary(P, utf8) || {P, _} <- exhook_samples:all()]),
    Seen = [await(Java, fun({log, info, <<"[Java] on", _/binary>>, #{hook := H}}) -> H =:= Hook;
                           (_) -> false
                        end) || Hook <- Hooks],
    ?assertEqual(19, length(Seen)),
    %% The malformed one is logged, not answered.
    {log, error, Bad, #{hook := <<"client.connected">>}} =
        await(Java, fun({log, error, _, _}) -> true; (_) -> false end),
    ?assert(contains(Bad, "client.connected")),
    ?assertEqual([], [F || F = {reply, _, _} <- drain(Java, 300)]).

other_clients_are_answered_while_one_call_sleeps(Config) ->
    %% One core worker thread: the others are started as calls need them.
    {Probe, _} = start_ok(Config, "Probe", #{pool_size => 1}, []),
    ClientInfo = exhook_samples:client_info(),
    Acl = fun(Client, Topic) -> [ClientInfo#{clientid => Client}, publish, Topic, allow] end,
    Sleepy = send_call(Probe, 'client.check_acl', Acl(<<"sleepy">>, <<"sleep/3000">>)),
    SleepyNext = send_call(Probe, 'client.check_acl', Acl(<<"sleepy">>, <<"deny/1">>)),
    Others = [send_call(Probe, 'client.check_acl', Acl(<<"c", (integer_to_binary(N))/binary>>, <<"p/1">>))
              || N <- lists:seq(1, 32)],
    [?assertEqual({stop, allow}, reply(Probe, Id)) || Id <- Others],
    %% Every other client was answered while the sleeping call still ran...
    ?assertEqual([], [F || F = {reply, Id, _} <- drain(Probe, 0), Id =:= Sleepy orelse Id =:= SleepyNext]),
    %% ...and the sleepy client's calls come in their order.
    ?assertEqual({reply, Sleepy, {stop, allow}},
                 await(Probe, fun({reply, Id, _}) -> Id =:= Sleepy orelse Id =:= SleepyNext; (_) -> false end)),
    ?assertEqual({stop, deny}, reply(Probe, SleepyNext)).

%% A handler that blocks on every call (a database gone silent): each
%% call the reader ran itself holds that thread, and reading moves to a
%% new one. pool_max bounds them all; without it, 30 such calls took 30
%% more threads and every new client one more.
a_handler_blocking_every_call_holds_at_most_pool_max_threads(Config) ->
    {Probe, _} = start_ok(Config, "Probe", #{pool_size => 1, pool_max => 4}, []),
    {os_pid, Pid} = erlang:port_info(Probe, os_pid),
    ClientInfo = exhook_samples:client_info(),
    Blocked = fun(N) -> [ClientInfo#{clientid => <<"b", (integer_to_binary(N))/binary>>}, publish,
                         <<"sleep/60000">>, allow]
              end,
    try
        Before = threads(Pid),
        [begin
             send_call(Probe, 'client.check_acl', Blocked(N)),
             %% Each one long enough in its thread to count as stuck.
             timer:sleep(20)
         end || N <- lists:seq(1, 30)],
        timer:sleep(200),
        After = threads(Pid),
        ct:log("threads before ~b, after 30 blocking calls ~b", [Before, After]),
        %% pool_max in jobs, the reader, and a little room for the JVM's own.
        ?assert(After - Before =< 4 + 1 + 3)
    after
        os:cmd("kill -9 " ++ integer_to_list(Pid))
    end.

threads(Pid) ->
    {ok, Status} = file:read_file("/proc/" ++ integer_to_list(Pid) ++ "/status"),
    {match, [N]} = re:run(Status, "Threads:\\s+(\\d+)", [{capture, all_but_first, list}]),
    list_to_integer(N).

every_call_is_answered_once_while_reading_moves_between_threads(Config) ->
    %% Calls of 40 clients in flight at once, one in ten sleeping 4-11 ms,
    %% around the 5 ms after which reading moves to another thread: every
    %% call gets exactly its own answer, in each client's order. The queue
    %% holds all 2000 (with the default 1024, a JVM that reads faster than
    %% it answers rightly answers the rest busy).
    {Probe, _} = start_ok(Config, "Probe", #{pool_size => 2, queue_capacity => 4096}, []),
    ClientInfo = exhook_samples:client_info(),
    Calls = [begin
                 Client = <<"c", (integer_to_binary(N rem 40))/binary>>,
                 Topic = case N rem 10 of
                             0 -> <<"sleep/", (integer_to_binary(4 + N rem 8))/binary>>;
                             1 -> <<"deny/", (integer_to_binary(N))/binary>>;
                             _ -> <<"p/", (integer_to_binary(N))/binary>>
                         end,
                 Expected = case N rem 10 of 1 -> {stop, deny}; _ -> {stop, allow} end,
                 {send_call(Probe, 'client.check_acl', [ClientInfo#{clientid => Client}, publish, Topic, allow]),
                  Client, Expected}
             end || N <- lists:seq(1, 2000)],
    Arrived = [await(Probe, fun({reply, _, _}) -> true; (_) -> false end) || _ <- Calls],
    ?assertEqual(lists:sort([{reply, Id, Expected} || {Id, _, Expected} <- Calls]), lists:sort(Arrived)),
    %% One client's answers come in the order its calls were sent.
    ClientOf = maps:from_list([{Id, C} || {Id, C, _} <- Calls]),
    ArrivedIds = [Id || {reply, Id, _} <- Arrived],
    [?assertEqual([Id || {Id, C, _} <- Calls, C =:= Client],
                  [Id || Id <- ArrivedIds, maps:get(Id, ClientOf) =:= Client])
     || Client <- lists:usort(maps:values(ClientOf))],
    ?assertEqual([], [F || F = {reply, _, _} <- drain(Probe, 200)]).

system_out_and_err_become_log_frames(Config) ->
    {Probe, _} = start_ok(Config, "Probe", #{}, [{<<"greeting">>, <<"hello">>}]),
    %% Settings reach the handler, and what init prints has no call's metadata.
    ?assertEqual({log, info, <<"probe started, greeting hello">>},
                 await(Probe, fun({log, _, <<"probe started", _/binary>>}) -> true; (_) -> false end)),
    [ClientInfo, Acc] = exhook_samples:args('client.authenticate'),
    ?assertMatch({stop, #{auth_result := success}},
                 call(Probe, 'client.authenticate', [ClientInfo#{clientid => <<"printer">>}, Acc])),
    Meta = #{hook => <<"client.authenticate">>, clientid => <<"printer">>},
    ?assertEqual({log, info, <<"auth printer as bad">>, Meta},
                 await(Probe, fun({log, info, <<"auth", _/binary>>, _}) -> true; (_) -> false end)),
    ?assertEqual({log, error, <<"an error line from printer">>, Meta},
                 await(Probe, fun({log, error, <<"an error", _/binary>>, _}) -> true; (_) -> false end)),
    %% Nothing printed ever reached the protocol as anything but a log frame.
    [?assertMatch(log, element(1, F)) || F <- drain(Probe, 200)].

an_exception_answers_error_and_logs_the_trace(Config) ->
    {Probe, _} = start_ok(Config, "Probe"),
    ClientInfo = exhook_samples:client_info(),
    {error, {exception, Text}} = call(Probe, 'client.check_acl', [ClientInfo, publish, <<"throw">>, allow]),
    ?assert(contains(Text, "probe refused topic throw"), Text),
    {log, error, Trace, #{hook := <<"client.check_acl">>, clientid := <<"subA">>}} =
        await(Probe, fun({log, error, _, _}) -> true; (_) -> false end),
    ?assert(contains(Trace, "IllegalStateException: probe refused topic throw"), Trace),
    ?assert(contains(Trace, "at Probe.decideClientCheckAcl"), Trace),
    %% Arguments the hook cannot work with: badarg, and the driver goes on.
    ?assertMatch({error, {badarg, _}}, call(Probe, 'client.check_acl', [not_a_map, publish, <<"t">>, allow])),
    ?assertMatch({error, {badarg, _}}, call(Probe, 'client.check_acl', [ClientInfo, read, <<"t">>, allow])),
    ?assertEqual({stop, allow}, call(Probe, 'client.check_acl', [ClientInfo, publish, <<"t">>, allow])).

ids_are_echoed_byte_for_byte(Config) ->
    {Probe, _} = start_ok(Config, "Probe"),
    Args = {exhook_samples:client_info(), publish, <<"t">>, allow},
    Alias = alias(),
    Ids = [make_ref(), Alias, self(), 1 bsl 80, -5, 3.25, <<"x">>,
           {weird, [1, 2 | 3], #{a => "b"}, [], {}}],
    [begin
         true = port_command(Probe, term_to_binary({call, Id, index('client.check_acl'), Args, 5000})),
         receive
             {Probe, {data, Bin}} ->
                 <<131, IdBytes/binary>> = term_to_binary(Id),
                 ?assertEqual({reply, Id, {stop, allow}}, binary_to_term(Bin)),
                 ?assertMatch({_, _}, binary:match(Bin, IdBytes), Id)
         after ?WAIT_MS -> ct:fail({no_reply, Id})
         end
     end || Id <- Ids],
    unalias(Alias).

a_full_queue_answers_busy_and_drops_casts(Config) ->
    %% Room for one event waiting to run.
    {Probe, _} = start_ok(Config, "Probe", #{queue_capacity => 1}, []),
    ClientInfo = exhook_samples:client_info(),
    Sleepy = send_call(Probe, 'client.check_acl', [ClientInfo, publish, <<"sleep/1500">>, allow]),
    await(Probe, fun({log, info, <<"sleeping subA">>, _}) -> true; (_) -> false end),
    %% The client's lane is busy: its next call waits, the one after is refused.
    Waiting = send_call(Probe, 'client.check_acl', [ClientInfo, publish, <<"deny/1">>, allow]),
    ?assertEqual({error, busy}, call(Probe, 'client.check_acl', [ClientInfo, publish, <<"t">>, allow])),
    cast(Probe, 'client.connected', [ClientInfo, #{}]),
    ?assertEqual({dropped, index('client.connected')},
                 await(Probe, fun({dropped, _}) -> true; (_) -> false end)),
    ?assertEqual({stop, allow}, reply(Probe, Sleepy)),
    ?assertEqual({stop, deny}, reply(Probe, Waiting)),
    %% Room again.
    ?assertEqual({stop, allow}, call(Probe, 'client.check_acl', [ClientInfo, publish, <<"t">>, allow])).

init_errors_name_the_problem(Config) ->
    Refused = fun(Class, Settings, Part) ->
                      {Port, {init_error, Text}} = start(Config, Class, #{}, Settings),
                      ?assert(contains(Text, Part), Text),
                      ?assertEqual(1, await_exit(Port))
              end,
    Refused("NoSuchHandler", [], "class not found"),
    Refused("java.lang.String", [], "does not extend io.emqx.extension.handler.DefaultCommunicationHandler"),
    Refused("Probe", [{<<"fail_init">>, <<"yes">>}], "init refused: fail_init is set").

deinit_finishes_queued_calls_and_exits(Config) ->
    {Probe, _} = start_ok(Config, "Probe"),
    ClientInfo = exhook_samples:client_info(),
    Queued = [send_call(Probe, 'client.check_acl', [ClientInfo, publish, <<"sleep/300">>, allow])
              || _ <- lists:seq(1, 3)],
    true = port_command(Probe, term_to_binary(deinit)),
    [?assertEqual({stop, allow}, reply(Probe, Id)) || Id <- Queued],
    %% What the handler's deinit logs comes before deinit_ok, the last frame.
    deinit_ok = await(Probe, fun(F) -> F =:= deinit_ok end),
    ?assertEqual({log, info, <<"probe stopping">>}, lists:last(frames(Probe))),
    ?assertEqual(0, await_exit(Probe)),
    ?assertEqual([], [F || {P, {data, _}} = F <- element(2, process_info(self(), messages)), P =:= Probe]).

closing_the_port_stops_the_jvm(Config) ->
    {Probe, _} = start_ok(Config, "Probe"),
    {os_pid, Pid} = erlang:port_info(Probe, os_pid),
    ?assert(alive(Pid)),
    port_close(Probe),
    ?assert(wait_gone(Pid, 100)).

alive(Pid) ->
    filelib:is_dir("/proc/" ++ integer_to_list(Pid))
        andalso not contains(list_to_binary(os:cmd("cat /proc/" ++ integer_to_list(Pid) ++ "/stat 2>/dev/null")),
                             ") Z ").

wait_gone(_Pid, 0) -> false;
wait_gone(Pid, N) ->
    case alive(Pid) of
        false -> true;
        true -> timer:sleep(100), wait_gone(Pid, N - 1)
    end.
