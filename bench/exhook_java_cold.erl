%% @doc A fresh handler process under load at once: how long it takes to
%% answer init, and how slow the first calls it then gets are. This is what
%% a reload waits for, and what the callers see right after traffic is
%% switched to the new instance.
%%
%% Each run starts a new process (the Java Gatekeeper in a JVM, as
%% `emqx_extension_hook_java:command/1' starts it; and the Rust gatekeeper
%% behind the Port launcher as the baseline, in turns), times open_port to
%% `init_ok' (and the CPU the process used until then), then has 64
%% callers, each its own client, log in (`client.authenticate') and
%% publish the sample message (`message.publish') back to back, as the
%% stress suite's reload case does, for a few rounds. Calls wait up to 5 s (the stress case gives up
%% at 200 ms: what would have failed there is counted). Run with
%% `make bench-java-cold'.
-module(exhook_java_cold).

-export([main/1]).

-define(AUTH_INDEX, 4).
-define(PUBLISH_INDEX, 15).
-define(CALLERS, 64).
-define(ROUNDS, 4).
-define(CALL_TIMEOUT_MS, 200).

%% @doc `[Root, Runs]': the repository root and fresh processes per
%% transport. Extra JVM options, space-separated, in `$JVM_ARGS' (erl takes
%% arguments that begin with `-' as its own); `$SDK_JAR' replaces the SDK
%% jar (another build of the driver, to compare).
-spec main([string()]) -> no_return().
main([Root, Runs]) ->
    N = list_to_integer(Runs),
    JvmArgs = case os:getenv("JVM_ARGS") of false -> ""; A -> A end,
    {ok, Samples} = file:consult(filename:join([Root, "native", "emqx-extension-sdk", "samples", "emqx-4.4.19-hook-samples.txt"])),
    {_, [ClientInfo, Acc]} = lists:keyfind('client.authenticate', 1, Samples),
    {_, [Msg]} = lists:keyfind('message.publish', 1, Samples),
    {ok, Java, JavaArgs0} = emqx_extension_hook_java:command(
                             #{path => filename:join([Root, "_build", "java", "examples"]),
                               init_module => "Gatekeeper", jvm_args => JvmArgs}),
    JavaArgs = case os:getenv("SDK_JAR") of
                   false -> JavaArgs0;
                   Jar -> [re:replace(A, "^[^:]*emqx-extension-java.jar", Jar, [{return, list}]) || A <- JavaArgs0]
               end,
    Launcher = filename:join([Root, "erlang", "priv", "emqx_exhook_port"]),
    Library = filename:join([Root, "target", "release", "libemqx_example_gatekeeper.so"]),
    Transports = [{"Rust gatekeeper, Port launcher (baseline)", Launcher, [Library]},
                  {"Java Gatekeeper, JVM", Java, JavaArgs}],
    io:format("A fresh process, then ~b callers at once (authenticate + publish, ~b rounds); "
              "~b runs each, ~b cores, load ~s~nJVM: ~s~n~n",
              [?CALLERS, ?ROUNDS, N, erlang:system_info(logical_processors_available), loadavg(),
               lists:join(" ", JavaArgs)]),
    Runs1 = [{Name, run(Exe, Args, ClientInfo, Acc, Msg)}
             || _ <- lists:seq(1, N), {Name, Exe, Args} <- Transports],
    report([{Name, [R || {Nm, R} <- Runs1, Nm =:= Name]} || {Name, _, _} <- Transports]),
    halt(0).

loadavg() ->
    {ok, L} = file:read_file("/proc/loadavg"),
    hd(string:lexemes(binary_to_list(L), "\n")).

%% One fresh process: init time (ms) and, per round, every call's latency (us).
run(Exe, Args, ClientInfo, Acc, Msg) ->
    Self = self(),
    T0 = erlang:monotonic_time(microsecond),
    Owner = spawn_link(
              fun() ->
                      Port = open_port({spawn_executable, Exe},
                                       [{args, Args}, {packet, 4}, binary, exit_status, use_stdio]),
                      Opts = #{pool_size => 4, queue_capacity => 1024, node => node()},
                      true = port_command(Port, term_to_binary({init, <<"cold">>, [], Opts})),
                      await_init(Port),
                      Self ! {self(), Port},
                      owner(Port)
              end),
    Port = receive {Owner, P} -> P end,
    InitMs = (erlang:monotonic_time(microsecond) - T0) / 1000,
    {os_pid, OsPid} = erlang:port_info(Port, os_pid),
    InitCpuMs = cpu_ms(OsPid),
    Pids = [spawn_link(fun() ->
                               Id = <<"cold-", (integer_to_binary(I))/binary>>,
                               Auth = {ClientInfo#{clientid => Id}, Acc},
                               Pub = {setelement(4, Msg, Id)},
                               Self ! {self(), [round(Port, Auth, Pub) || _ <- lists:seq(1, ?ROUNDS)]}
                       end) || I <- lists:seq(1, ?CALLERS)],
    PerCaller = [receive {Pid, R} -> R end || Pid <- Pids],
    %% A monitor, not the link: a linked process that ends normally sends
    %% nothing to a process that does not trap exits.
    Ref = monitor(process, Owner),
    Owner ! stop,
    receive {'DOWN', Ref, process, Owner, _} -> ok after 15000 -> ok end,
    %% Per round, the latencies of every caller's two calls.
    Rounds = [lists:append([lists:nth(K, R) || R <- PerCaller]) || K <- lists:seq(1, ?ROUNDS)],
    {{InitMs, InitCpuMs}, Rounds}.

%% CPU time of OS process `Pid' so far (all its threads), in ms: utime +
%% stime of /proc/PID/stat, in clock ticks of 10 ms.
cpu_ms(Pid) ->
    {ok, Stat} = file:read_file("/proc/" ++ integer_to_list(Pid) ++ "/stat"),
    [_, AfterName] = binary:split(Stat, <<") ">>),
    Fields = binary:split(AfterName, <<" ">>, [global]),
    (binary_to_integer(lists:nth(12, Fields)) + binary_to_integer(lists:nth(13, Fields))) * 10.

%% What the process logs before it answers init is shown too.
await_init(Port) ->
    receive
        {Port, {data, Bin}} ->
            case binary_to_term(Bin) of
                {init_ok, _} -> ok;
                {log, _, _} = Log -> show(Log), await_init(Port)
            end
    after 20000 -> exit(init_timeout)
    end.

show({log, Level, Text}) ->
    io:format(standard_error, "  [~s] ~ts~n", [Level, Text]).

round(Port, Auth, Pub) ->
    [call(Port, ?AUTH_INDEX, Auth), call(Port, ?PUBLISH_INDEX, Pub)].

call(Port, Index, Args) ->
    T0 = erlang:monotonic_time(microsecond),
    Alias = alias([reply]),
    true = erlang:port_command(Port, term_to_binary({call, Alias, Index, Args, 5000})),
    receive {Alias, _} -> ok
    after 10000 -> exit({no_reply_in_10_s, Index})
    end,
    erlang:monotonic_time(microsecond) - T0.

owner(Port) ->
    receive
        {Port, {data, Bin}} ->
            case binary_to_term(Bin, [safe]) of
                {reply, Alias, Result} -> Alias ! {Alias, Result};
                {log, _, _} = Log -> show(Log);
                _ -> ok
            end,
            owner(Port);
        {Port, {exit_status, S}} ->
            exit({port_exited, S});
        stop ->
            port_command(Port, term_to_binary(deinit)),
            receive {Port, {exit_status, _}} -> ok after 10000 -> ok end
    end.

report(Rows) ->
    io:format("| transport | init ms (median, max) | init CPU ms (median) | round | p50 ms | p99 ms | max ms (median, worst run) "
              "| calls over ~b ms (all runs) |~n|---|---|---:|---:|---:|---:|---|---:|~n", [?CALL_TIMEOUT_MS]),
    [begin
         Inits = lists:sort([I || {{I, _}, _} <- Runs]),
         Cpus = lists:sort([C || {{_, C}, _} <- Runs]),
         [begin
              Lats = [lists:sort(lists:nth(K, Rs)) || {_, Rs} <- Runs],
              All = lists:sort(lists:append(Lats)),
              Maxes = lists:sort([lists:last(L) || L <- Lats]),
              Over = length([L || L <- All, L > ?CALL_TIMEOUT_MS * 1000]),
              First = fun(Text) when K =:= 1 -> Text; (_) -> "" end,
              io:format("| ~s | ~s | ~s | ~b | ~.1f | ~.1f | ~.1f, ~.1f | ~b of ~b |~n",
                        [Name, First(io_lib:format("~b, ~b", [round(median(Inits)), round(lists:last(Inits))])),
                         First(integer_to_list(median(Cpus))),
                         K, pct(All, 0.5) / 1000, pct(All, 0.99) / 1000,
                         median(Maxes) / 1000, lists:last(Maxes) / 1000, Over, length(All)])
          end || K <- lists:seq(1, ?ROUNDS)]
     end || {Name, Runs} <- Rows],
    ok.

median(Sorted) -> lists:nth((length(Sorted) + 1) div 2, Sorted).

pct(Sorted, P) -> lists:nth(max(1, round(P * length(Sorted))), Sorted).
