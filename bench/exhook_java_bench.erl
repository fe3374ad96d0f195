%% @doc Java handlers over the Port protocol: calls/s and latency of
%% `client.authenticate' (the Gatekeeper's decision, a map built and sent
%% back) from 1, 8 and 64 concurrent callers, against the Rust gatekeeper
%% behind the SDK's own Port launcher measured in the same run.
%%
%% The path is the Port transport's: each caller sends
%% `{call, Alias, Index, Args, Timeout}' straight to the port and waits for
%% its alias; one process owns the port and hands each reply to its alias.
%% Every call is timed. The handler process's CPU per call (all its
%% threads, from /proc/PID/stat) is less sensitive to a loaded machine
%% than calls/s. Run with `make bench-java'.
-module(exhook_java_bench).

-export([main/1]).

-define(AUTH_INDEX, 4).
-define(CALLERS, [1, 8, 64]).
%% Each measurement is repeated, the transports taking turns, and the
%% median (by calls/s) reported: the machine is shared and noisy.
-define(REPEAT, 3).

%% @doc `[Root, Seconds]': the repository root and seconds per measurement.
-spec main([string()]) -> no_return().
main([Root, Seconds]) ->
    Ms = round(list_to_float(Seconds) * 1000),
    {ok, Samples} = file:consult(filename:join([Root, "native", "emqx-extension-sdk", "samples", "emqx-4.4.19-hook-samples.txt"])),
    {_, [ClientInfo, Acc]} = lists:keyfind('client.authenticate', 1, Samples),
    {ok, Java, JavaArgs} = emqx_extension_hook_java:command(
                             #{path => filename:join([Root, "_build", "java", "examples"]),
                               init_module => "Gatekeeper"}),
    Launcher = filename:join([Root, "erlang", "priv", "emqx_exhook_port"]),
    Library = filename:join([Root, "target", "release", "libemqx_example_gatekeeper.so"]),
    %% Two worker threads (the machine's cores) in either process.
    Opts = #{pool_size => 2, queue_capacity => 4096},
    Transports = [{"Rust gatekeeper, Port launcher (baseline)", Launcher, [Library]},
                  {"Java Gatekeeper, JVM", Java, JavaArgs}],
    io:format("client.authenticate over the Port protocol, ~b ms per measurement, median of ~b, "
              "~b cores, OTP ~s~n~n", [Ms, ?REPEAT, erlang:system_info(logical_processors_available),
                                       erlang:system_info(otp_release)]),
    Owners = [{Name, start(Exe, Args, Opts)} || {Name, Exe, Args} <- Transports],
    %% Warm-up (the JIT compiles the hot path): as long as one measurement.
    [_ = run(Owner, 8, ClientInfo, Acc, Ms) || {_, Owner} <- Owners],
    Runs = [{Name, N, run(Owner, N, ClientInfo, Acc, Ms)}
            || _ <- lists:seq(1, ?REPEAT), N <- ?CALLERS, {Name, Owner} <- Owners],
    [Owner ! stop || {_, Owner} <- Owners],
    report([median([R || {Nm, C, R} <- Runs, Nm =:= Name, C =:= N], Name, N)
            || {Name, _} <- Owners, N <- ?CALLERS]),
    halt(0).

median(Results, Name, N) ->
    Sorted = lists:sort(fun(A, B) -> element(1, A) =< element(1, B) end, Results),
    {Name, N, lists:nth((length(Sorted) + 1) div 2, Sorted)}.

%% The port's owner: starts it, runs init, then hands replies to aliases.
start(Exe, Args, Opts) ->
    Parent = self(),
    Owner = spawn_link(
              fun() ->
                      Port = open_port({spawn_executable, Exe},
                                       [{args, Args}, {packet, 4}, binary, exit_status, use_stdio]),
                      true = port_command(Port, term_to_binary({init, <<"bench">>, [], Opts})),
                      await_init(Port),
                      Parent ! {self(), Port},
                      owner(Port)
              end),
    receive {Owner, Port} -> put({port, Owner}, Port), Owner end.

%% What the process logs while it starts may come before its answer.
await_init(Port) ->
    receive
        {Port, {data, Bin}} ->
            case binary_to_term(Bin) of
                {init_ok, _} -> ok;
                {log, _, _} -> await_init(Port)
            end
    after 20000 -> exit(init_timeout)
    end.

owner(Port) ->
    receive
        {Port, {data, Bin}} ->
            case binary_to_term(Bin, [safe]) of
                {reply, Alias, Result} -> Alias ! {Alias, Result};
                _ -> ok
            end,
            owner(Port);
        {Port, {exit_status, S}} ->
            exit({port_exited, S});
        stop ->
            port_command(Port, term_to_binary(deinit)),
            receive {Port, {exit_status, _}} -> ok after 10000 -> ok end
    end.

%% `N' callers, each its own client, back to back for `Ms'; calls/s, the
%% latencies in microseconds and the handler process's CPU per call.
run(Owner, N, ClientInfo, Acc, Ms) ->
    Port = get({port, Owner}),
    {os_pid, OsPid} = erlang:port_info(Port, os_pid),
    Cpu0 = cpu_ns(OsPid),
    Self = self(),
    Deadline = erlang:monotonic_time(millisecond) + Ms,
    Pids = [spawn_link(fun() ->
                               Args = {ClientInfo#{clientid => <<"bench-", (integer_to_binary(I))/binary>>}, Acc},
                               Self ! {self(), caller(Port, Args, Deadline, [])}
                       end) || I <- lists:seq(1, N)],
    Lat = lists:append([receive {P, L} -> L end || P <- Pids]),
    {length(Lat) * 1000 / Ms, lists:sort(Lat), (cpu_ns(OsPid) - Cpu0) / 1000 / max(1, length(Lat))}.

%% CPU time of OS process `Pid' (every thread, ended ones included), in
%% nanoseconds: utime + stime of /proc/PID/stat, in clock ticks of 10 ms.
cpu_ns(Pid) ->
    {ok, Stat} = file:read_file("/proc/" ++ integer_to_list(Pid) ++ "/stat"),
    [_, AfterName] = binary:split(Stat, <<") ">>),
    Fields = binary:split(AfterName, <<" ">>, [global]),
    %% Fields 14 and 15 of the file; the first two (pid, name) are cut off.
    Ticks = binary_to_integer(lists:nth(12, Fields)) + binary_to_integer(lists:nth(13, Fields)),
    Ticks * 10000000.

caller(Port, Args, Deadline, Acc) ->
    case erlang:monotonic_time(millisecond) < Deadline of
        false -> Acc;
        true ->
            T0 = erlang:monotonic_time(nanosecond),
            Alias = alias([reply]),
            true = erlang:port_command(Port, term_to_binary({call, Alias, ?AUTH_INDEX, Args, 5000})),
            receive {Alias, {stop, _}} -> ok
            after 10000 -> exit({no_reply_in_10_s, Port, Args})
            end,
            caller(Port, Args, Deadline, [(erlang:monotonic_time(nanosecond) - T0) / 1000 | Acc])
    end.

percentile(Sorted, P) ->
    lists:nth(max(1, round(P * length(Sorted))), Sorted).

report(Rows) ->
    io:format("| transport | callers | calls/s | p50 us | p99 us | handler CPU us/call | vs baseline calls/s |~n"
              "|---|---:|---:|---:|---:|---:|---:|~n"),
    Base = maps:from_list([{N, R} || {"Rust" ++ _, N, {R, _, _}} <- Rows]),
    [io:format("| ~s | ~b | ~.1f k | ~.1f | ~.1f | ~.1f | x~.2f |~n",
               [Name, N, Rate / 1000, percentile(L, 0.5), percentile(L, 0.99), Cpu, Rate / maps:get(N, Base)])
     || {Name, N, {Rate, L, Cpu}} <- Rows],
    [{Rate1, L1, _}] = [R || {"Java" ++ _, 1, R} <- Rows],
    [{Rate64, _, _}] = [R || {"Java" ++ _, 64, R} <- Rows],
    io:format("~nGoals (Java): 1 caller >= 30 k calls/s: ~.1f k (~s); 64 callers >= 100 k calls/s: ~.1f k (~s); "
              "p50 (1 caller) <= 40 us: ~.1f us (~s). The original plugin: 6.5 k calls/s.~n",
              [Rate1 / 1000, verdict(Rate1 >= 30000), Rate64 / 1000, verdict(Rate64 >= 100000),
               percentile(L1, 0.5), verdict(percentile(L1, 0.5) =< 40)]).

verdict(true) -> "met";
verdict(false) -> "missed".
