%% The execution engine under havoc, in the spirit of ranch's stampede and
%% havoc suites: handlers that sleep past the timeout or panic, ordinary
%% clients logging in beside slow and panicking ones, queues overflowing
%% at full speed, drivers reloaded while 64 processes call hooks, and
%% per-client ordering over 10 000 events from 200 clients.
%%
%% Every case asserts that the VM and the callers survive, that every fold
%% hook is answered within call_timeout plus a margin (?MARGIN_MS: these
%% machines are shared and noisy; the margin is the scheduling slack, the
%% timeout itself is what is enforced), and that the driver's counters
%% match what happened.
-module(emqx_extension_hook_stress_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").
-include_lib("emqx_extension_hook/include/emqx_extension_hook.hrl").

-compile([export_all, nowarn_export_all]).

-define(MARGIN_MS, 250).
%% A call a reload lost is never answered: it gets the policy when this
%% runs out, however long it is. Long enough that a busy machine's
%% scheduling alone does not run it out, so a denial means a lost call.
-define(RELOAD_TIMEOUT_MS, 1000).

all() ->
    [slow_handler_is_answered_by_the_timeout, slow_inline_call_is_counted_as_overran,
     one_panic_in_a_hundred_gets_the_policy,
     slow_and_panicking_neighbours_cost_ordinary_clients_nothing_nif,
     slow_and_panicking_neighbours_cost_ordinary_clients_nothing_port,
     queue_overflow_drops_and_refuses_at_once,
     reload_under_load, reload_under_load_on_the_port_transport,
     reload_under_load_of_a_java_driver,
     per_client_order_over_10000_events,
     reload_cycles_unload_the_library_and_keep_memory_flat].

init_per_suite(Config) ->
    %% The samples are parsed once and cached; timed calls must not pay it.
    _ = exhook_samples:all(),
    ok = exhook_broker:start(),
    exhook_test_plugin:set_transport(nif),
    Config.

end_per_suite(_Config) ->
    exhook_test_plugin:stop(),
    exhook_broker:stop().

end_per_testcase(_Case, _Config) ->
    exhook_test_plugin:stop().

%%--------------------------------------------------------------------
%% Helpers

client(Id) ->
    (hd(exhook_samples:args('client.authenticate')))#{clientid => Id}.

%% Runs `Fun(I)' for I in 1..N in `Procs' processes; the results in order,
%% each `{Millis, Result}'. Fails if any process crashed.
timed_parallel(Procs, N, Fun) ->
    Parent = self(),
    Chunks = chunks(lists:seq(1, N), Procs),
    Pids = [spawn_link(fun() ->
                               Parent ! {self(), [{I, timed(fun() -> Fun(I) end)} || I <- Chunk]}
                       end) || Chunk <- Chunks],
    Results = lists:append([receive {Pid, R} -> R after 60000 -> error(timeout) end || Pid <- Pids]),
    [R || {_, R} <- lists:keysort(1, Results)].

timed(Fun) ->
    T0 = erlang:monotonic_time(millisecond),
    Result = Fun(),
    {erlang:monotonic_time(millisecond) - T0, Result}.

chunks(List, N) ->
    Size = max(1, (length(List) + N - 1) div N),
    chunks_of(List, Size).

chunks_of([], _) -> [];
chunks_of(List, Size) when length(List) =< Size -> [List];
chunks_of(List, Size) ->
    {Chunk, Rest} = lists:split(Size, List),
    [Chunk | chunks_of(Rest, Size)].

max_millis(Timed) -> lists:max([Ms || {Ms, _} <- Timed]).

rss_bytes() ->
    {ok, Statm} = file:read_file("/proc/self/statm"),
    [_Size, Resident | _] = binary:split(Statm, <<" ">>, [global]),
    binary_to_integer(Resident) * 4096.

%%--------------------------------------------------------------------
%% Cases

slow_handler_is_answered_by_the_timeout(Config) ->
    {Rec, _} = exhook_test_plugin:recorder(Config, [{call_timeout, 100}, {failed_action, deny}]),
    exhook_test_plugin:start([Rec]),
    %% Each call sleeps 1 s in the handler, 10 times call_timeout.
    Timed = timed_parallel(50, 50, fun(I) ->
        exhook_broker:authenticate(client(iolist_to_binary(["slow-1000-", integer_to_list(I)])), true)
    end),
    ct:log("slowest answer: ~b ms", [max_millis(Timed)]),
    ?assert(max_millis(Timed) =< 100 + ?MARGIN_MS),
    [?assertEqual({error, not_authorized}, R) || {_, R} <- Timed],
    Stats = exhook_test_plugin:await_stats(rec, 'client.authenticate',
                                           fun(#{queued := Q}) -> Q =:= 0 end),
    ?assertMatch(#{calls := 50, timed_out := 50, succeeded := 0, failed := 0, dropped := 0}, Stats).

slow_inline_call_is_counted_as_overran(Config) ->
    {Rec, _} = exhook_test_plugin:recorder(Config, [{call_timeout, 50}, {mode, dirty_io}]),
    exhook_test_plugin:start([Rec]),
    %% A dirty call cannot be interrupted: the handler's answer comes late,
    %% and the overrun is counted.
    Timed = timed_parallel(4, 4, fun(I) ->
        exhook_broker:authenticate(client(iolist_to_binary(["slow-120-", integer_to_list(I)])), true)
    end),
    [?assertMatch({Ms, {ok, _}} when Ms >= 120, T) || T <- Timed],
    ?assertMatch(#{calls := 4, succeeded := 4, overran := 4, timed_out := 0},
                 exhook_test_plugin:stats(rec, 'client.authenticate')).

one_panic_in_a_hundred_gets_the_policy(Config) ->
    {Rec, _} = exhook_test_plugin:recorder(Config, [{failed_action, deny}]),
    exhook_test_plugin:start([Rec]),
    Id = fun(I) when I rem 100 =:= 0 -> iolist_to_binary(["panic-", integer_to_list(I)]);
            (I) -> iolist_to_binary(["c-", integer_to_list(I)])
         end,
    Timed = timed_parallel(20, 2000, fun(I) -> exhook_broker:authenticate(client(Id(I)), true) end),
    ?assert(max_millis(Timed) =< 5000 + ?MARGIN_MS),
    Results = lists:zip(lists:seq(1, 2000), [R || {_, R} <- Timed]),
    [case I rem 100 of
         0 -> ?assertEqual({error, not_authorized}, R, I);
         _ -> ?assertMatch({ok, _}, R, I)
     end || {I, R} <- Results],
    ?assertMatch(#{calls := 2000, succeeded := 1980, failed := 20, timed_out := 0},
                 exhook_test_plugin:stats(rec, 'client.authenticate')),
    %% Inline calls panic on the calling scheduler, and are caught there too.
    ok = emqx_extension_hook:disable(rec),
    {Inline, _} = exhook_test_plugin:recorder(Config, [{failed_action, deny}, {mode, inline}]),
    exhook_test_plugin:start([Inline]),
    ?assertEqual({error, not_authorized}, exhook_broker:authenticate(client(<<"panic-inline">>), true)),
    ?assertMatch({ok, _}, exhook_broker:authenticate(client(<<"fine">>), true)),
    ?assertMatch(#{failed := 1, succeeded := 1}, exhook_test_plugin:stats(rec, 'client.authenticate')).

%% The broker trial of the pool's issue: 240 clients connect 16 at a time,
%% 150 ordinary, 60 whose every call panics and 30 whose every call sleeps
%% three times call_timeout. Each ordinary client's calls are answered by
%% the handler, and well within call_timeout (the scheduling slack of this
%% suite, a quarter of it): a slow client holds up only its own events.
slow_and_panicking_neighbours_cost_ordinary_clients_nothing_nif(Config) ->
    neighbours(Config, nif).

slow_and_panicking_neighbours_cost_ordinary_clients_nothing_port(Config) ->
    neighbours(Config, port).

neighbours(Config, Transport) ->
    exhook_test_plugin:set_transport(Transport),
    try neighbours(Config)
    after exhook_test_plugin:set_transport(nif)
    end.

neighbours(Config) ->
    CallTimeout = 4 * ?MARGIN_MS,
    {Rec, _} = exhook_test_plugin:recorder(Config, [{pool_size, 8}, {call_timeout, CallTimeout},
                                                    {failed_action, deny}]),
    exhook_test_plugin:start([Rec]),
    [ConnInfo0, Props] = exhook_samples:args('client.connect'),
    Kind = fun(I) when I rem 8 =:= 0 -> slow;
              (I) when I rem 4 =:= 1 -> panicking;
              (_) -> ordinary
           end,
    Id = fun(I) -> Prefix = case Kind(I) of
                                slow -> ["slow-", integer_to_list(3 * CallTimeout), "-"];
                                panicking -> "panic-";
                                ordinary -> "ordinary-"
                            end,
                   iolist_to_binary([Prefix, integer_to_list(I)])
         end,
    %% A connection as the broker raises its hooks: connect, then (when
    %% accepted) login, online, an ACL check and offline. Each fold call
    %% is timed: {Millis, answered by handler | policy}.
    Connection = fun(I) ->
        ConnInfo = ConnInfo0#{clientid => Id(I)},
        Client = client(Id(I)),
        Timed = fun(Call, Decided) -> {Ms, R} = timed(Call), {Ms, Decided(R)} end,
        Connect = Timed(fun() -> exhook_broker:connect(ConnInfo, Props) end,
                        fun({ok, _}) -> handler; ({error, _}) -> policy end),
        case Connect of
            {_, handler} ->
                Auth = Timed(fun() -> exhook_broker:authenticate(Client, true) end,
                             fun({ok, _}) -> handler; ({error, _}) -> policy end),
                ok = exhook_broker:notify('client.connected', [Client, ConnInfo]),
                Acl = Timed(fun() -> exhook_broker:check_acl(Client, publish, <<"t/1">>, allow) end,
                            fun(allow) -> handler; (deny) -> policy end),
                ok = exhook_broker:notify('client.disconnected', [Client, normal, ConnInfo]),
                {Kind(I), [Connect, Auth, Acl]};
            {_, policy} ->
                ok = exhook_broker:notify('client.connack', [ConnInfo, not_authorized, #{}]),
                {Kind(I), [Connect]}
        end
    end,
    %% One connection first, untimed: code loading is not the pool's.
    {ordinary, _} = Connection(2),
    Results = timed_parallel(16, 240, Connection),
    ByKind = fun(K) -> lists:append([Calls || {_, {K1, Calls}} <- Results, K1 =:= K]) end,
    Ordinary = ByKind(ordinary),
    Millis = lists:sort([Ms || {Ms, _} <- Ordinary]),
    ct:log("~ts: ordinary clients' ~b calls: median ~b ms, slowest ~w ms",
           [exhook_test_plugin:transport(), length(Ordinary),
            lists:nth(length(Millis) div 2 + 1, Millis), lists:nthtail(length(Millis) - 5, Millis)]),
    %% Every ordinary client logged in and was answered by its handler.
    ?assertEqual(150 * 3, length(Ordinary)),
    ?assertEqual([], [C || {_, policy} = C <- Ordinary]),
    ?assert(lists:last(Millis) < ?MARGIN_MS),
    %% The others got the policy: the slow ones at the timeout, the
    %% panicking ones at once.
    ?assertEqual([], [C || {_, handler} = C <- ByKind(slow) ++ ByKind(panicking)]),
    ?assertMatch(#{calls := 241, succeeded := 151, failed := 60, timed_out := 30, dropped := 0},
                 exhook_test_plugin:stats(rec, 'client.connect')),
    ?assertMatch(#{calls := 151, succeeded := 151},
                 exhook_test_plugin:stats(rec, 'client.authenticate')).

queue_overflow_drops_and_refuses_at_once(Config) ->
    Capacity = 16,
    %% One worker and no more: a stalled worker is not replaced, so the
    %% queue fills behind it.
    {Rec, _} = exhook_test_plugin:recorder(Config, [{pool_size, 1}, {pool_max, 1},
                                                    {queue_capacity, Capacity},
                                                    {failed_action, deny}]),
    exhook_test_plugin:start([Rec]),
    [_, ConnInfo] = exhook_samples:args('client.connected'),
    Connected = fun(Id) -> exhook_broker:notify('client.connected', [client(Id), ConnInfo]) end,
    %% The one worker sleeps 1 s on the first event; 8 processes send
    %% 20 000 more as fast as they can. A sender that waited for room in
    %% the queue would wait most of that second.
    ok = Connected(<<"slow-1000-first">>),
    Depths = spawn_depth_sampler(),
    Timed = timed_parallel(8, 20000, fun(I) -> Connected(iolist_to_binary(["c", integer_to_list(I)])) end),
    MaxDepth = stop_depth_sampler(Depths),
    ct:log("slowest notification: ~b ms, deepest queue: ~b", [max_millis(Timed), MaxDepth]),
    ?assert(max_millis(Timed) < ?MARGIN_MS),
    ?assert(MaxDepth =< Capacity),
    %% A fold hook meets the full queue: the failure policy, at once.
    ok = Connected(<<"slow-300-again">>),
    [ok = Connected(<<"filler">>) || _ <- lists:seq(1, Capacity + 1)],
    {Ms, Refused} = timed(fun() -> exhook_broker:authenticate(client(<<"c-x">>), true) end),
    ?assertEqual({error, not_authorized}, Refused),
    ?assert(Ms < 50 + ?MARGIN_MS),
    ?assertMatch(#{dropped := 1}, exhook_test_plugin:stats(rec, 'client.authenticate')),
    Stats = exhook_test_plugin:await_stats(rec, 'client.connected',
                                           fun(#{queued := Q}) -> Q =:= 0 end),
    #{calls := Calls, succeeded := S, failed := F, dropped := D} = Stats,
    ct:log("client.connected: ~p", [Stats]),
    ?assertEqual(20000 + 2 + Capacity + 1, Calls),
    ?assertEqual(Calls, S + F + D),
    ?assert(D > 0).

%% Samples the driver's queue depth every millisecond, keeping the maximum.
spawn_depth_sampler() ->
    {ok, #exhook_driver{module = M, resource = R}} = emqx_extension_hook_drivers:lookup(rec),
    spawn_link(fun() -> sample_depth(M, R, 0) end).

sample_depth(M, R, Max) ->
    Depth = max(Max, M:driver_queue_depth(R)),
    receive
        {stop, From} -> From ! {max_depth, Depth}
    after 1 ->
        sample_depth(M, R, Depth)
    end.

stop_depth_sampler(Pid) ->
    Pid ! {stop, self()},
    receive {max_depth, Max} -> Max after 5000 -> error(sampler_gone) end.

%% A reload loses nothing: while 64 processes log in and publish through
%% the driver (failed_action = deny, so any call the driver does not answer
%% is refused or dropped), the driver is reloaded 10 times; every call is
%% answered by a handler, the old instance or the new one.
reload_under_load(Config) ->
    reload_under_load(Config, nif).

%% The same on the Port transport: the new handler processes start and
%% take the calls before the old ones finish theirs and stop.
reload_under_load_on_the_port_transport(Config) ->
    exhook_test_plugin:set_transport(port),
    try reload_under_load(Config, port)
    after exhook_test_plugin:set_transport(nif)
    end.

%% The same with the Java gatekeeper: a new JVM starts and takes the calls
%% before the old one finishes its queue and exits. The gatekeeper lets
%% user "good" in and routes the sample message.
reload_under_load_of_a_java_driver(_Config) ->
    exhook_test_plugin:set_transport(java),
    try
        {gate, Opts} = exhook_test_plugin:gate(),
        exhook_test_plugin:start([{gate, [{call_timeout, ?RELOAD_TIMEOUT_MS}, {failed_action, deny},
                                          {pool_size, 4} | Opts]}]),
        Good = fun(Id) -> (client(Id))#{username => <<"good">>} end,
        {Counts, Slowest} = load_while_reloading(gate, Good, 10),
        assert_nothing_lost(Counts, Slowest),
        %% The last JVM is gone with the plugin.
        Jvms = jvm_pids(gate),
        ?assertEqual(4, length(Jvms)),
        exhook_test_plugin:stop(),
        [?assertEqual(gone, await_os_process_gone(Pid, 100)) || Pid <- Jvms]
    after exhook_test_plugin:set_transport(nif)
    end.

%% The OS pids of driver `Name''s handler processes.
jvm_pids(Name) ->
    {ok, Driver} = emqx_extension_hook_drivers:lookup(Name),
    {port, Transport} = Driver#exhook_driver.transport,
    emqx_extension_hook_port:os_pids(Transport).

reload_under_load(Config, Transport) ->
    %% On the Port transport each of the pool_size processes runs the
    %% handler, its init and its deinit.
    Handlers = case Transport of nif -> 1; port -> 2 end,
    {Rec, File} = exhook_test_plugin:recorder(Config, [{call_timeout, ?RELOAD_TIMEOUT_MS},
                                                       {failed_action, deny},
                                                       {pool_size, Handlers}]),
    exhook_test_plugin:start([Rec]),
    Reloads = 10,
    {Counts, Slowest} = load_while_reloading(rec, fun client/1, Reloads),
    assert_nothing_lost(Counts, Slowest),
    exhook_test_plugin:stop(),
    %% Deinit ran once per handler of each instance, and nothing came after
    %% the last one.
    Lines = exhook_test_plugin:recorded(File),
    ?assertEqual((Reloads + 1) * Handlers, length([L || <<"deinit">> = L <- Lines])),
    ?assertEqual(<<"deinit">>, lists:last(Lines)),
    %% Every library copy is unloaded (once the last term referring to one
    %% of its resources is collected), and no stub has old code left.
    Transport =:= nif andalso
        ?assertEqual([], exhook_test_plugin:await_mapped_library_copies(0)),
    ?assert(exhook_test_plugin:library_released(rec)).

await_os_process_gone(Pid, 0) ->
    {still_running, Pid};
await_os_process_gone(Pid, Tries) ->
    case os:cmd("kill -0 " ++ integer_to_list(Pid) ++ " 2>/dev/null && echo alive") of
        "alive\n" -> timer:sleep(100), await_os_process_gone(Pid, Tries - 1);
        _ -> gone
    end.

%% No call went unanswered: with failed_action = deny, a call no handler
%% answered would be a refused login or a dropped message.
assert_nothing_lost(Counts, Slowest) ->
    ?assert(Slowest =< ?RELOAD_TIMEOUT_MS + ?MARGIN_MS),
    ?assertEqual(0, maps:get(denied, Counts, 0)),
    ?assertEqual(0, maps:get(dropped, Counts, 0)),
    ?assert(maps:get(allowed, Counts) > 0 andalso maps:get(routed, Counts) > 0).

%% 64 processes log in and publish through driver `Driver' while it is
%% reloaded `Reloads' times; what the broker did, and the slowest answer.
load_while_reloading(Driver, Client, Reloads) ->
    [_, ConnInfo] = exhook_samples:args('client.connected'),
    Msg = exhook_samples:message(),
    Running = atomics:new(1, []),
    ok = atomics:put(Running, 1, 1),
    %% Each caller keeps its slowest answer and counts what the broker did:
    %% the handler lets the login in (or has no opinion: the broker's
    %% default allows it) and routes the message; the failure policy would
    %% deny the login and drop the message.
    Caller = fun Loop(I, {Slowest, Counts}) ->
        case atomics:get(Running, 1) of
            0 -> {Slowest, Counts};
            1 ->
                Id = iolist_to_binary(["load-", integer_to_list(I)]),
                ok = exhook_broker:notify('client.connected', [Client(Id), ConnInfo]),
                {Ms1, Login} = timed(fun() -> exhook_broker:authenticate(Client(Id), true) end),
                {Ms2, Routed} = timed(fun() -> exhook_broker:publish(setelement(4, Msg, Id)) end),
                Kinds = [case Login of
                             {ok, _} -> allowed;
                             {error, not_authorized} -> denied
                         end,
                         case Routed of
                             {routed, _} -> routed;
                             dropped -> dropped
                         end],
                Counts1 = lists:foldl(fun(K, C) -> maps:update_with(K, fun(N) -> N + 1 end, 1, C) end,
                                      Counts, Kinds),
                Loop(I + 1, {lists:max([Ms1, Ms2, Slowest]), Counts1})
        end
    end,
    Parent = self(),
    Pids = [spawn_link(fun() -> Parent ! {self(), Caller(P * 1000000, {0, #{}})} end)
            || P <- lists:seq(1, 64)],
    %% Each library instance serves logins before the next reload.
    Served = fun() ->
                     exhook_test_plugin:await_stats(Driver, 'client.authenticate',
                                                    fun(#{succeeded := S}) -> S > 0 end)
             end,
    Served(),
    [begin ok = emqx_extension_hook:reload(Driver), Served() end || _ <- lists:seq(1, Reloads)],
    ok = atomics:put(Running, 1, 0),
    Results = [receive {Pid, R} -> R after 30000 -> error({caller_stuck, Pid}) end || Pid <- Pids],
    Slowest = lists:max([S || {S, _} <- Results]),
    Counts = lists:foldl(fun({_, C}, Acc) -> maps:merge_with(fun(_, A, B) -> A + B end, C, Acc) end,
                         #{}, Results),
    ct:log("~b reloads under load; answers ~p, slowest ~b ms", [Reloads, Counts, Slowest]),
    {Counts, Slowest}.

per_client_order_over_10000_events(Config) ->
    {Rec, File} = exhook_test_plugin:recorder(Config, [{pool_size, 8}]),
    exhook_test_plugin:start([Rec]),
    [_, ConnInfo] = exhook_samples:args('client.connected'),
    %% Each event carries its sequence number in sockport; every fifth is a
    %% fold hook (the client waits for it), the others notifications.
    Event = fun(Id, Seq) ->
        C = (client(Id))#{sockport => Seq},
        case Seq rem 5 of
            0 -> {ok, _} = exhook_broker:authenticate(C, true);
            _ -> ok = exhook_broker:notify('client.connected', [C, ConnInfo])
        end
    end,
    %% 150 clients send 50 events each; 50 more are taken over half-way:
    %% the old connection sends 25, then hands over to a new process with
    %% the same clientid, which sends 25 more.
    %% The recorder takes a varying time per event for these clientids, so
    %% that events handled in parallel would come out of order.
    Plain = [iolist_to_binary(["jitter-order-", integer_to_list(I)]) || I <- lists:seq(1, 150)],
    Taken = [iolist_to_binary(["jitter-takeover-", integer_to_list(I)]) || I <- lists:seq(1, 50)],
    Parent = self(),
    Pids = [spawn_link(fun() -> [Event(Id, S) || S <- lists:seq(1, 50)], Parent ! {done, self()} end)
            || Id <- Plain] ++
           [spawn_link(fun() ->
                               [Event(Id, S) || S <- lists:seq(1, 25)],
                               New = spawn_link(fun() ->
                                                        receive go -> ok end,
                                                        [Event(Id, S) || S <- lists:seq(26, 50)],
                                                        Parent ! {done, self()}
                                                end),
                               New ! go,
                               Parent ! {done, self()}
                       end) || Id <- Taken],
    wait_done(length(Pids) + length(Taken)),
    Lines = exhook_test_plugin:await_recorded(File, 10000),
    ?assertEqual(10000, length(Lines)),
    ByClient = lists:foldl(fun(Line, Acc) ->
                                   {match, [Id, Seq]} = re:run(Line, "clientid=(\\S+) .*sockport=(\\d+)",
                                                              [{capture, all_but_first, binary}]),
                                   maps:update_with(Id, fun(L) -> [binary_to_integer(Seq) | L] end,
                                                    [binary_to_integer(Seq)], Acc)
                           end, #{}, Lines),
    ?assertEqual(200, map_size(ByClient)),
    maps:foreach(fun(Id, Reversed) ->
                         ?assertEqual(lists:seq(1, 50), lists:reverse(Reversed), Id)
                 end, ByClient).

wait_done(0) -> ok;
wait_done(N) ->
    receive
        {done, _} -> wait_done(N - 1)
    after 60000 -> error({clients_stuck, N})
    end.

reload_cycles_unload_the_library_and_keep_memory_flat(Config) ->
    {Rec, _} = exhook_test_plugin:recorder(Config, []),
    exhook_test_plugin:start([Rec]),
    %% Each new library instance handles a login (the counters start
    %% afresh with each enable).
    Cycle = fun() ->
                    ok = emqx_extension_hook:reload(rec),
                    {ok, _} = exhook_broker:authenticate(client(<<"cycle">>), true),
                    #{calls := 1, succeeded := 1} =
                        exhook_test_plugin:stats(rec, 'client.authenticate')
            end,
    [Cycle() || _ <- lists:seq(1, 10)],
    erlang:garbage_collect(),
    Before = {rss_bytes(), erlang:memory(total)},
    [Cycle() || _ <- lists:seq(1, 100)],
    %% Only the copy loaded last is mapped.
    ?assertEqual(1, length(exhook_test_plugin:await_mapped_library_copies(1))),
    After = {rss_bytes(), erlang:memory(total)},
    ct:log("rss and VM memory before and after 100 reloads: ~p -> ~p", [Before, After]),
    {RssBefore, _} = Before,
    {RssAfter, _} = After,
    ?assert(RssAfter - RssBefore < 32 * 1024 * 1024).
