%% @doc The plugin's hook path, measured: the broker callbacks
%% `emqx_extension_hook:callbacks(bench)' registers, called the way
%% emqx_hooks calls them (`apply(M, F, HookArgs ++ ExtraArgs)'), down to
%% the handler in bench/handler and back, from 1, 8 and 64 concurrent
%% Erlang processes, with the arguments EMQX 4.4.19 passes (captured in
%% native/emqx-extension-sdk/samples/emqx-4.4.19-hook-samples.txt).
%%
%% One VM run measures every case of its case list and writes the rows to
%% a term file; `exhook_bench_report' turns the runs of one `make bench'
%% into the table, the Markdown file and the chart. bench/run.sh runs it
%% twice: with the VM's default scheduler busy-waiting, and with
%% `+sbwt none +sbwtdcpu none +sbwtdio none'.
%%
%% The case list is data: a case is a hook (with its arguments and the
%% return value the broker must get) and a transport (how the callback is
%% reached); see `transports/0' and `cases/2'. The Port transport is the
%% same handler library run by a second driver, `bench_port', in
%% `{transport, port}' OS processes; it is enabled only around its cases.
%% The Python rows (issue 8) are python3 drivers of their own, each enabled
%% only around its cases: the seed article's CustomHook unchanged (the PyPI
%% SDK from _build/pyvenv), a minimal handler without the SDK's decorators
%% (bench/python/bench_minimal.py), and the CustomHook on the Port
%% transport. The Java rows (issue 10) are a `java' driver, `bench_java',
%% one JVM running bench/java/BenchHandler.java (the Rust handler's twin)
%% behind the same Port transport, enabled only around its cases; their
%% baseline is the Port rows of the same run.
%%
%% Two groups of rows in the default VM run look at issue 12 and 13: the
%% inline client.authenticate with a ClientInfo of 30 extra keys, and the
%% inline message.publish of a handler that logs (the broker's level set
%% to info around those cases, the records going to a file as EMQX's
%% emqx.log). The saturated broker is `exhook_bench_saturation', a VM run
%% of its own.
-module(exhook_bench).

-include("../erlang/include/emqx_extension_hook.hrl").

-export([main/1, run/1]).
%% Shared with exhook_bench_saturation.
-export([handler_log_to_file/0, stop_handler_log/1, cpu_snapshot/1, cpu_delta/2, driver_os_pids/1,
         median/1]).

%% Histogram: 1 ns buckets below 64 ns, then 32 per power of two (3 %).
-define(LINEAR, 64).
-define(SUB, 32).
-define(SUB_BITS, 5).
-define(MAX_EXP, 40).
-define(NBUCKETS, (?LINEAR + (?MAX_EXP - 5) * ?SUB)).

-define(DRIVER, bench).
%% The Port transport's driver: the same handler library, `pool_size' OS
%% processes.
-define(PORT_DRIVER, bench_port).
-define(PORT_PROCESSES, 2).
%% The Java rows' driver (one JVM).
-define(JAVA_DRIVER, bench_java).
-define(JAVA_PROCESSES, 1).
%% Filtered debug lines per call in the case that measures what one costs.
-define(MANY_LINES, 1000).
%% The handler's probe (bench/handler: message.delivered on this topic).
-define(COUNT_TOPIC, <<"$bench/connected">>).

%%====================================================================
%% Profiles, transports, hooks, cases
%%====================================================================

%% reps: repetitions (medians are reported); *_ms: per measurement;
%% notify_events: client.connected events per back-to-back repetition;
%% idle_ms: how long the idle driver's CPU is measured, once per VM run;
%% jvm_warmup_ms: calls into a new JVM before its cases are measured.
profile(full) ->
    #{reps => 4, warmup_ms => 25, mode_warmup_ms => 150, b2b_ms => 150, sparse_ms => 250,
      notify_events => 100000, stride => 8, idle_ms => 5000, jvm_warmup_ms => 1000};
%% The smoke run (CI, inside make test) checks the code path, not the
%% numbers: short cases, so that it stays near a minute on 2 shared cores.
profile(smoke) ->
    #{reps => 1, warmup_ms => 20, mode_warmup_ms => 50, b2b_ms => 60, sparse_ms => 60,
      notify_events => 5000, stride => 8, idle_ms => 500, jvm_warmup_ms => 300};
%% make bench-java: the Java rows and their Port baseline alone, measured
%% as in the full run (the idle driver is not).
profile(java) ->
    (profile(full))#{idle_ms => 0}.

%% How a callback is reached. `mode' is the driver's config `mode' (the
%% mode of every fold hook of the driver); notifications (`cast') are
%% always queued to the driver's workers whatever the mode.
transports() ->
    [#{id => inline,    kind => nif, mode => inline,
       label => <<"NIF inline">>},
     #{id => dirty_cpu, kind => nif, mode => dirty_cpu,
       label => <<"NIF dirty_cpu">>},
     #{id => dirty_io,  kind => nif, mode => dirty_io,
       label => <<"NIF dirty_io">>},
     #{id => pool,      kind => nif, mode => pool,
       label => <<"NIF pool">>},
     #{id => cast,      kind => nif, mode => pool,
       label => <<"NIF queued">>},
     %% The same handler behind Erlang Ports: `?PORT_PROCESSES' OS
     %% processes (the launcher emqx_exhook_port running the handler
     %% library); calls and notifications alike are port_command'ed.
     #{id => port,      kind => port, driver => ?PORT_DRIVER,
       label => <<"Port">>},
     %% A java driver: one JVM (the driver's default pool_size) running
     %% bench/java/BenchHandler.java behind the same Port transport.
     #{id => java,      kind => port, driver => ?JAVA_DRIVER,
       label => <<"Java (JVM, Port)">>},
     %% The NIF driver in inline mode with the broker's level at info
     %% (the logging cases; every other case runs with the level at error).
     #{id => inline_log, kind => nif, mode => inline, log_level => info,
       label => <<"NIF inline, broker at info">>},
     #{id => erlang,    kind => floor,
       label => <<"pure Erlang floor">>},
     %% python3 drivers (the pool mode; Python never runs inline), each
     %% enabled around its own cases: `?PORT_PROCESSES' workers, or OS
     %% processes on the Port transport.
     #{id => py_custom, kind => python, driver => bench_py_custom, python => custom_hook,
       label => <<"Python CustomHook">>},
     #{id => py_minimal, kind => python, driver => bench_py_minimal, python => minimal,
       label => <<"Python minimal">>},
     #{id => py_port, kind => python, driver => bench_py_port, python => custom_hook, port => true,
       label => <<"Python CustomHook, Port">>},
     #{id => empty_nif, kind => floor,
       label => <<"empty NIF floor">>}].

transport(Id) ->
    [T] = [T || T = #{id := I} <- transports(), I =:= Id],
    T.

%% Which transports and variants each hook is measured with, per VM run.
%% b2b: back to back; sparse: one call per millisecond per caller.
cases(java, _Vm) ->
    [{H, T, [b2b]} || H <- [auth, acl, connected], T <- [port, java]];
cases(_Profile, Vm) ->
    Fold = [inline, dirty_cpu, dirty_io, pool],
    Auth = [{auth, T, [b2b, sparse]} || T <- Fold ++ [port, erlang, empty_nif]],
    %% 64 callers beside a 101st whose every login takes 100 ms; the same
    %% 64 alone are the auth rows.
    Beside = [{auth_beside_slow, pool, [b2b, sparse]}],
    Acl = [{acl, T, [b2b, sparse]} || T <- Fold ++ [port, erlang]],
    Connected = [{connected, T, [b2b, sparse]} || T <- [cast, port, erlang]],
    Publish = [{P, T, [b2b]} || P <- [publish_64, publish_4k, publish_1m],
                                T <- [inline, pool, port, erlang]],
    %% Python: authenticate from each; the notification in the VM (what
    %% it costs the caller, and the rate through the interpreter).
    Python = [{auth, T, [b2b]} || T <- [py_custom, py_minimal, py_port]]
        ++ [{connected, T, [b2b]} || T <- [py_custom, py_minimal]],
    %% Issue 12: the handler reads three fields of a ClientInfo with 30
    %% more keys (the usual one is the auth rows').
    Wide = [{auth_wide, inline, [b2b]}],
    %% Issue 13: the same publish without a log line, with one at debug
    %% and many at debug (the broker at info: filtered), with one at info.
    %% Info last: the broker's logger writes the lines out for a while
    %% after their case, CPU that must not land on another case.
    Logging = [{H, inline_log, [b2b]}
               || H <- [publish_log_none, publish_log_debug, publish_log_many, publish_log_info]],
    %% Issue 10: Java over the Port; its baseline is the Port rows.
    Java = [{H, java, [b2b]} || H <- [auth, acl, connected]],
    case Vm of
        %% The wide ClientInfo right after the usual one: measured next to it.
        default -> Auth ++ Wide ++ Beside ++ [{auth_beside_slow, port, [b2b]}] ++ Acl ++ Connected ++ Publish
                       ++ Python ++ Logging ++ Java;
        %% Busy-waiting off changes the hand-offs (dirty schedulers,
        %% worker threads, wake-ups); authenticate and client.connected
        %% show every kind of hand-off.
        sbwt_none -> Auth ++ Beside ++ Connected
    end.

%% The callers a hook's cases are measured from.
procs(auth_beside_slow) -> [64];
%% Costs at the caller: one caller, back to back.
procs(auth_wide) -> [1];
procs(publish_log_none) -> [1];
procs(publish_log_info) -> [1];
procs(publish_log_debug) -> [1];
procs(publish_log_many) -> [1];
procs(_) -> [1, 8, 64].

%% The slow neighbour's clientid (bench/handler: a login of a clientid
%% with this prefix takes 100 ms).
-define(SLOW_CLIENT, <<"bench-slow-1">>).

%% The hooks: point, kind, arguments for caller I, the broker's expected
%% return value, and the floor callbacks.
hooks(Samples) ->
    CI0 = maps:get('client.authenticate', Samples),
    [AuthCI, AuthAcc] = CI0,
    [AclCI, PubSub, Topic, SoFar] = maps:get('client.check_acl', Samples),
    [ConnCI, ConnInfo] = maps:get('client.connected', Samples),
    [Msg] = maps:get('message.publish', Samples),
    [DelivCI, DelivMsg] = maps:get('message.delivered', Samples),
    Counter = counters:new(1, [write_concurrency]),
    Auth = #{point => 'client.authenticate', kind => fold, label => <<"client.authenticate">>,
             args => fun(I) -> [AuthCI#{clientid => cid(I)}, AuthAcc] end,
             expect => {stop, AuthAcc#{auth_result => success, anonymous => false,
                                       is_superuser => false}},
             floor => #{erlang => {exhook_bench_floor, on_client_authenticate, [undefined]},
                        empty_nif => {exhook_bench_floor, empty_nif, [undefined]}}},
    Acl = #{point => 'client.check_acl', kind => fold, label => <<"client.check_acl">>,
            args => fun(I) -> [AclCI#{clientid => cid(I)}, PubSub, Topic, SoFar] end,
            expect => {stop, allow},
            floor => #{erlang => {exhook_bench_floor, on_client_check_acl, [undefined]}}},
    Connected = #{point => 'client.connected', kind => notify, label => <<"client.connected">>,
                  args => fun(I) -> [ConnCI#{clientid => cid(I)}, ConnInfo#{clientid => cid(I)}] end,
                  expect => ok,
                  floor => #{erlang => {exhook_bench_floor, on_client_connected, [Counter]}}},
    Publish = fun(Size, Label) ->
                      Payload = binary:copy(<<"x">>, Size),
                      #{point => 'message.publish', kind => fold, label => Label,
                        payload => Size,
                        args => fun(I) -> [setelement(8, setelement(4, Msg, cid(I)), Payload)] end,
                        expect => ok,
                        floor => #{erlang => {exhook_bench_floor, on_message_publish, [Counter]}}}
              end,
    %% The logging cases: bench/handler logs N lines on topic log/LEVEL/N.
    Logged = fun(LogTopic, Label) ->
                     P = Publish(64, Label),
                     Args = maps:get(args, P),
                     P#{args => fun(I) -> [M] = Args(I), [setelement(7, M, LogTopic)] end,
                        log_lines => case binary:split(LogTopic, <<"/">>, [global]) of
                                         [<<"log">>, _, N] -> binary_to_integer(N);
                                         _ -> 0
                                     end}
             end,
    %% A ClientInfo as a broker with plugins that add their own keys passes
    %% it: 30 more keys (40 in all: a hash map, where the usual 10 are a
    %% flat one), values of the kinds such keys hold.
    Extra = maps:from_list([{list_to_atom("bench_extra_" ++ integer_to_list(K)), extra_value(K)}
                            || K <- lists:seq(1, 30)]),
    WideCI = maps:merge(Extra, AuthCI),
    %% Never timed: asks the handler process that serves caller I's
    %% clientid how many client.connected events it has handled (bench/handler).
    Probe = #{point => 'message.delivered', kind => fold, label => <<"probe">>,
              args => fun(I) -> [DelivCI#{clientid => cid(I)},
                                 setelement(8, setelement(7, DelivMsg, ?COUNT_TOPIC), <<>>)]
                      end},
    Beside = Auth#{label => <<"client.authenticate beside a 100 ms caller">>,
                   neighbour => [AuthCI#{clientid => ?SLOW_CLIENT}, AuthAcc], alone => auth},
    Wide = Auth#{label => <<"client.authenticate, ClientInfo with 30 extra keys">>,
                 args => fun(I) -> [WideCI#{clientid => cid(I)}, AuthAcc] end, usual => auth},
    #{auth => Auth, auth_beside_slow => Beside, acl => Acl, connected => Connected, probe => Probe,
      auth_wide => Wide,
      publish_log_none => Logged(<<"p/1">>, <<"message.publish 64 B, no log line">>),
      publish_log_info => Logged(<<"log/info/1">>, <<"message.publish 64 B, one info line">>),
      publish_log_debug => Logged(<<"log/debug/1">>, <<"message.publish 64 B, one debug line (filtered)">>),
      publish_log_many => Logged(<<"log/debug/", (integer_to_binary(?MANY_LINES))/binary>>,
                                 iolist_to_binary(io_lib:format("message.publish 64 B, ~b debug lines (filtered)",
                                                                [?MANY_LINES]))),
      publish_64 => Publish(64, <<"message.publish 64 B">>),
      publish_4k => Publish(4096, <<"message.publish 4 KiB">>),
      publish_1m => Publish(1048576, <<"message.publish 1 MiB">>)}.

cid(I) -> <<"bench-client-", (integer_to_binary(I))/binary>>.

extra_value(K) when K rem 3 =:= 0 -> <<"value of extra key ", (integer_to_binary(K))/binary>>;
extra_value(K) when K rem 3 =:= 1 -> K * 1000;
extra_value(K) -> #{source => plugin, rank => K}.

%%====================================================================
%% Entry points
%%====================================================================

%% @doc `erl -run exhook_bench main Profile Vm OutFile HandlerLib EmptyNifLib Samples Root'
%% (Root: the repository, where the Python handlers and _build/pyvenv are).
-spec main([string()]) -> no_return().
main([Profile, Vm, Out, Handler, EmptyNif, Samples, Root]) ->
    Code = try
               run(#{profile => list_to_atom(Profile), vm => list_to_atom(Vm), out => Out,
                     handler => Handler, empty_nif => EmptyNif, samples => Samples, root => Root}),
               0
           catch Class:Reason:Stack ->
                   io:format(standard_error, "bench failed: ~p:~p~n~p~n", [Class, Reason, Stack]),
                   1
           end,
    erlang:halt(Code).

%% @doc One VM run: every case of the VM's case list, `reps' times, rows
%% written to `out' as `{bench_run, Facts, Rows}'.
-spec run(map()) -> ok.
run(#{profile := ProfileName, vm := Vm, out := Out} = Opts) ->
    Profile = profile(ProfileName),
    %% The broker's EMQX metrics stand-in, loaded before anything is
    %% timed, so no measured call pays for loading it.
    {module, emqx_metrics} = code:ensure_loaded(emqx_metrics),
    ok = logger:set_primary_config(level, error),
    LogFile = handler_log_to_file(),
    Facts = facts(Vm, ProfileName),
    io:format("~n== exhook bench: ~s, ~s (~s) ==~n", [ProfileName, Vm, maps:get(vm_flags, Facts)]),
    ok = load_empty_nif(maps:get(empty_nif, Opts)),
    {ok, SampleList} = file:consult(maps:get(samples, Opts)),
    Hooks = hooks(maps:from_list(SampleList)),
    ok = start_plugin(maps:get(handler, Opts)),
    Cases = cases(ProfileName, Vm),
    Ctx = #{profile => Profile, hooks => Hooks, handler => maps:get(handler, Opts), vm => Vm,
            root => maps:get(root, Opts)},
    check_cases(Ctx, Cases),
    Reps = [run_rep(Ctx, Cases, Rep) || Rep <- lists:seq(1, maps:get(reps, Profile))],
    Rows = aggregate(Vm, lists:append(Reps), Cases, Hooks),
    Idle = idle_cpu(Ctx),
    ok = tally_counters(?DRIVER),
    Failures = maps:filter(fun(_, V) -> V > 0 end, get_tally()),
    io:format("driver failure counters (failed, timed_out, dropped; all hooks): ~p~n", [Failures]),
    Facts1 = Facts#{driver_failures => Failures,
                    port_process_threads => get({?MODULE, port_threads, ?PORT_DRIVER}),
                    java_process_threads => get({?MODULE, port_threads, ?JAVA_DRIVER}),
                    idle => Idle},
    ok = file:write_file(Out, io_lib:format("~p.~n", [{bench_run, Facts1, Rows}])),
    _ = application:stop(emqx_extension_hook),
    stop_handler_log(LogFile).

%% @doc The handlers' log records go to a file of their own, as EMQX's
%% emqx.log (nothing else is logged there, and nothing of theirs on the
%% console); the primary level still decides which are made. The file.
-spec handler_log_to_file() -> file:filename().
handler_log_to_file() ->
    File = filename:join(tmp_dir(), "exhook_bench_handlers_" ++ os:getpid() ++ ".log"),
    ok = logger:set_handler_config(default, level, error),
    ok = logger:add_handler(bench_handlers, logger_std_h,
                            #{config => #{file => File}, filter_default => stop,
                              filters => [{handlers, {fun logger_filters:domain/2,
                                                      {log, sub, [emqx_extension_hook, handler]}}}]}),
    File.

%% @doc Removes the handlers' log file `handler_log_to_file/0' made.
-spec stop_handler_log(file:filename()) -> ok.
stop_handler_log(File) ->
    _ = logger:remove_handler(bench_handlers),
    _ = file:delete(File),
    ok.

%%====================================================================
%% Plugin and floors
%%====================================================================

load_empty_nif(Lib) ->
    %% A private copy: a rebuild of the cargo target must never write over
    %% a library this VM has mapped.
    Dir = filename:join(tmp_dir(), "exhook_bench_" ++ os:getpid()),
    ok = filelib:ensure_dir(filename:join(Dir, "x")),
    Copy = filename:join(Dir, "libemqx_bench_empty.so"),
    {ok, _} = file:copy(Lib, Copy),
    Result = emqx_bench_empty:load(Copy),
    _ = file:delete(Copy),
    _ = file:del_dir(Dir),
    ok = Result,
    ok = emqx_bench_empty:noop().

tmp_dir() ->
    case os:getenv("TMPDIR") of
        false -> "/tmp";
        "" -> "/tmp";
        D -> D
    end.

driver_opts(Handler, Mode) ->
    [{path, Handler}, {mode, Mode}, {call_timeout, 5000}, {pool_size, 2},
     %% Room for a whole burst of notifications (the default is 1024).
     {queue_capacity, 131072}].

start_plugin(Handler) ->
    ok = application:load(emqx_extension_hook),
    ok = application:set_env(emqx_extension_hook, drivers, [{?DRIVER, driver_opts(Handler, inline)}]),
    {ok, _} = application:ensure_all_started(emqx_extension_hook),
    {ok, _} = emqx_extension_hook:callbacks(?DRIVER),
    ok.

%% Replaces (or adds) driver `Name''s config in the app env `drivers',
%% keeping the other driver's: `enable/1' reads it from there.
set_driver_env(Name, Opts) ->
    Drivers = application:get_env(emqx_extension_hook, drivers, []),
    ok = application:set_env(emqx_extension_hook, drivers, lists:keystore(Name, 1, Drivers, {Name, Opts})).

%% Re-enables the driver with `Mode' for every fold hook; the callbacks it
%% registered. The counters of the driver it replaces are added up first.
use_mode(Handler, Mode) ->
    ok = tally_counters(?DRIVER),
    _ = emqx_extension_hook:disable(?DRIVER),
    ok = set_driver_env(?DRIVER, driver_opts(Handler, Mode)),
    ok = emqx_extension_hook:enable(?DRIVER),
    {ok, Callbacks} = emqx_extension_hook:callbacks(?DRIVER),
    maps:from_list(Callbacks).

%% What an idle driver costs: the NIF driver in pool mode with 8 workers,
%% warmed up by 64 callers back to back (so every worker has run calls),
%% then left alone for `idle_ms'. The CPU time of its threads (named
%% exhook-bench-N, and its manager exhook-bench-mg) and of the whole VM
%% over that time, as a share of one core.
idle_cpu(#{profile := #{idle_ms := 0}}) ->
    undefined;
idle_cpu(#{handler := Handler, hooks := Hooks, profile := #{idle_ms := IdleMs}}) ->
    Workers = 8,
    ok = tally_counters(?DRIVER),
    _ = emqx_extension_hook:disable(?DRIVER),
    ok = set_driver_env(?DRIVER, lists:keystore(pool_size, 1, driver_opts(Handler, pool),
                                                {pool_size, Workers})),
    ok = emqx_extension_hook:enable(?DRIVER),
    {ok, Callbacks} = emqx_extension_hook:callbacks(?DRIVER),
    Auth = maps:get(auth, Hooks),
    {M, F, X} = proplists:get_value('client.authenticate', Callbacks),
    _ = measure(b2b, M, F, X, Auth, 64, 100, 8),
    receive after 500 -> ok end,
    Pool0 = threads_cpu_ns("self", "exhook-bench-"),
    Vm0 = cpu_snapshot([]),
    T0 = erlang:monotonic_time(nanosecond),
    receive after IdleMs -> ok end,
    T1 = erlang:monotonic_time(nanosecond),
    Pool1 = threads_cpu_ns("self", "exhook-bench-"),
    {VmUs, 0} = cpu_delta(Vm0, cpu_snapshot([])),
    Secs = (T1 - T0) / 1.0e9,
    %% A worker beyond pool_size that retires meanwhile is left out: its
    %% CPU time goes with it.
    Used = lists:sum([Ns - maps:get(Tid, Pool0, 0) || {Tid, Ns} <- maps:to_list(Pool1)]),
    Threads = map_size(Pool1),
    Idle = #{workers => Workers, threads => Threads, secs => Secs,
             pool_cpu_pct => Used / 1.0e9 / Secs * 100,
             vm_cpu_pct => VmUs / 1.0e6 / Secs * 100},
    io:format("  idle driver, ~b workers (~b threads), ~.1f s: its threads ~.3f % of a core, "
              "the whole VM ~.2f %~n",
              [Workers, Threads, Secs, maps:get(pool_cpu_pct, Idle), maps:get(vm_cpu_pct, Idle)]),
    Idle.

%% #{Tid => CPU time in ns} of process `Proc''s threads whose name starts
%% with `Prefix' (schedstat, or stat in clock ticks where that is missing);
%% #{} once the process has ended. prim_file, not file: file's calls go
%% through the file server, a process that busy callers (the saturated
%% broker's 64) keep waiting for tens of milliseconds per read.
threads_cpu_ns(Proc, Prefix) ->
    Dir = "/proc/" ++ Proc ++ "/task",
    Tids = case prim_file:list_dir(Dir) of
               {ok, Ts} -> Ts;
               {error, _} when Proc =/= "self" -> []
           end,
    Mine = [Tid || Tid <- Tids,
                   Prefix =:= "" orelse
                       lists:any(fun({ok, Comm}) -> lists:prefix(Prefix, binary_to_list(Comm));
                                    (_) -> false
                                 end, [prim_file:read_file(Dir ++ "/" ++ Tid ++ "/comm")])],
    maps:from_list(
      [{Tid, Ns} || Tid <- Mine,
                    Ns <- case cpu_source() of
                              schedstat ->
                                  case prim_file:read_file(Dir ++ "/" ++ Tid ++ "/schedstat") of
                                      {ok, Line} -> [binary_to_integer(hd(binary:split(Line, <<" ">>)))];
                                      {error, _} -> []      % it ended meanwhile
                                  end;
                              stat ->
                                  [stat_us(Proc ++ "/task/" ++ Tid) * 1000]
                          end]).

%% The options of a Port transport's driver. `bench_port': the same
%% handler library in `?PORT_PROCESSES' OS processes (`mode' does not apply
%% to port drivers; queue_capacity, shared out among the processes, as for
%% the NIF driver). `bench_java': the Rust handler's Java twin in one JVM
%% (the driver's default pool_size), with a heap limit as java/README.md
%% advises.
port_driver_opts(#{id := port}, #{handler := Handler}) ->
    [{path, Handler}, {transport, port},
     {pool_size, ?PORT_PROCESSES}, {call_timeout, 5000}, {queue_capacity, 131072}];
port_driver_opts(#{id := java}, #{root := Root}) ->
    [{kind, java}, {path, filename:join([Root, "_build", "java", "bench"])},
     {init_module, "BenchHandler"}, {jvm_args, "-Xmx256m"},
     {pool_size, ?JAVA_PROCESSES}, {call_timeout, 5000}, {queue_capacity, 131072}].

port_processes(#{id := java}) -> ?JAVA_PROCESSES;
port_processes(_) -> ?PORT_PROCESSES.

%% Enables a Port transport's driver next to the NIF driver; its OS
%% processes' pids are added to the CPU time measured until
%% `disable_port/1'.
enable_port(Ctx, #{driver := Driver} = T) ->
    ok = set_driver_env(Driver, port_driver_opts(T, Ctx)),
    ok = emqx_extension_hook:enable(Driver),
    OsPids = driver_os_pids(Driver),
    Processes = port_processes(T),
    Processes = length(OsPids),
    put({?MODULE, extra_cpu_pids}, OsPids),
    %% Threads per handler process (its reader and its worker pool; a
    %% JVM's own threads too).
    Threads = [length(Ts) || P <- OsPids,
                             {ok, Ts} <- [file:list_dir("/proc/" ++ integer_to_list(P) ++ "/task")]],
    put({?MODULE, port_threads, Driver}, lists:usort(Threads)),
    ok.

%% @doc The OS pids of an enabled Port-transport driver's handler processes.
-spec driver_os_pids(atom()) -> [non_neg_integer()].
driver_os_pids(Driver) ->
    {ok, #exhook_driver{transport = {port, T}}} = emqx_extension_hook_drivers:lookup(Driver),
    emqx_extension_hook_port:os_pids(T).

disable_port(#{driver := Driver}) ->
    ok = tally_counters(Driver),
    erase({?MODULE, extra_cpu_pids}),
    ok = emqx_extension_hook:disable(Driver).

port_transports(Cases) ->
    lists:usort([T || {_, T, _} <- Cases, kind(T) =:= port]).

%% The failure counters of driver `Name' (failed, timed_out, dropped; and
%% restarts for a port driver), summed over every enable of this run (a
%% driver's counters start again at each enable): call once per enable,
%% before it is disabled. The NIF driver's should all be 0.
tally_counters(Name) ->
    Now = case [D || D = #{name := N} <- emqx_extension_hook:stats(), N =:= atom_to_binary(Name)] of
              [#{hooks := Hooks} = D] ->
                  [{{Name, P, K}, V} || {P, C} <- Hooks, K <- [failed, timed_out, dropped],
                                        {ok, V} <- [maps:find(K, C)]]
                      ++ [{{Name, restarts}, maps:get(restarts, D, 0)}];
              [] -> []
          end,
    Sum = lists:foldl(fun({Key, V}, Acc) -> maps:update_with(Key, fun(X) -> X + V end, V, Acc) end,
                      get_tally(), Now),
    put({?MODULE, tally}, Sum),
    ok.

get_tally() ->
    case get({?MODULE, tally}) of
        undefined -> #{};
        T -> T
    end.

%% {M, F, Extra} for a case, or {skip, Why}.
callback(#{kind := nif}, #{point := Point}, Callbacks) ->
    maps:get(Point, Callbacks);
callback(#{kind := floor, id := Id}, #{floor := Floors}, _Callbacks) ->
    maps:get(Id, Floors);
callback(#{kind := port} = T, Hook, _Callbacks) ->
    port_callbacks(T, Hook);
callback(#{kind := python, driver := Driver}, #{point := Point}, _Callbacks) ->
    {ok, Callbacks} = emqx_extension_hook:callbacks(Driver),
    case lists:keyfind(Point, 1, Callbacks) of
        {Point, {_M, _F, _X} = MFA} -> MFA;
        false -> error({python_driver_lacks_hook, Driver, Point})
    end.

%% A python3 driver: `?PORT_PROCESSES' pool workers (or OS processes on
%% the Port transport), as the Rust rows have.
python_driver_opts(Root, #{python := Handler} = T) ->
    {Path, Module} = case Handler of
                         custom_hook -> {"native/python/tests/fixtures/custom_hook", "hooks"};
                         minimal -> {"bench/python", "bench_minimal"}
                     end,
    [{kind, python3}, {path, filename:join(Root, Path)}, {init_module, Module},
     {venv, filename:join(Root, "_build/pyvenv")}, {pool_size, ?PORT_PROCESSES},
     {call_timeout, 5000}, {queue_capacity, 65536}]
        ++ [{transport, port} || maps:get(port, T, false)].

%% Enables python3 driver `T' next to the others; on the Port transport its
%% OS processes' CPU is added to what is measured until `disable_python/1'.
enable_python(Root, #{driver := Driver} = T) ->
    ok = set_driver_env(Driver, python_driver_opts(Root, T)),
    ok = emqx_extension_hook:enable(Driver),
    case maps:get(port, T, false) of
        true ->
            put({?MODULE, extra_cpu_pids}, driver_os_pids(Driver)),
            ok;
        false ->
            ok
    end.

disable_python(#{driver := Driver}) ->
    ok = tally_counters(Driver),
    erase({?MODULE, extra_cpu_pids}),
    ok = emqx_extension_hook:disable(Driver).

python_transports(Cases) ->
    lists:usort([T || {_, T, _} <- Cases, kind(T) =:= python]).

%% The broker callback a Port transport's driver registered for `Hook''s
%% point (the driver is enabled around its cases by `enable_port/2').
port_callbacks(#{driver := Driver}, #{point := Point}) ->
    case emqx_extension_hook:callbacks(Driver) of
        {ok, Callbacks} ->
            case lists:keyfind(Point, 1, Callbacks) of
                {Point, {_M, _F, _X} = MFA} -> MFA;
                false -> error({port_driver_lacks_hook, Driver, Point})
            end;
        {error, not_enabled} ->
            error({port_driver_not_enabled, Driver})
    end.

%%====================================================================
%% Running cases
%%====================================================================

%% Each case's callback gives the broker the expected answer, and the
%% floors give exactly what the plugin gives, before anything is timed;
%% the port driver's probe answers with a count.
check_cases(#{hooks := Hooks, handler := Handler, root := Root} = Ctx, Cases) ->
    Modes = lists:usort([M || {_, T, _} <- Cases, #{kind := nif, mode := M} <- [transport(T)]]),
    lists:foreach(
      fun(Mode) ->
              CBs = use_mode(Handler, Mode),
              [check_case(H, T, maps:get(H, Hooks), CBs)
               || {H, T, _} <- Cases, in_group(transport(T), Mode)]
      end, Modes),
    [begin
         T = transport(PT),
         ok = enable_port(Ctx, T),
         [check_case(H, PT, maps:get(H, Hooks), #{}) || {H, T1, _} <- Cases, T1 =:= PT],
         {OsPid, _Count} = probe(probe_of(Hooks, T), 1),
         true = lists:member(OsPid, get({?MODULE, extra_cpu_pids})),
         ok = disable_port(T)
     end || PT <- port_transports(Cases)],
    case [C || {_, T, _} = C <- Cases, is_log_transport(T)] of
        [] -> ok;
        LogCases ->
            LogCBs = use_mode(Handler, inline),
            [check_case(H, T, maps:get(H, Hooks), LogCBs) || {H, T, _} <- LogCases]
    end,
    [begin
         ok = enable_python(Root, transport(PT)),
         [check_case(H, T, maps:get(H, Hooks), #{}) || {H, T, _} <- Cases, T =:= PT],
         ok = disable_python(transport(PT))
     end || PT <- python_transports(Cases)],
    [check_case(H, T, maps:get(H, Hooks), #{}) || {H, T, _} <- Cases, kind(T) =:= floor],
    io:format("every callback answers as the broker expects (~b cases)~n", [length(Cases)]),
    ok.

check_case(HookId, TId, #{args := ArgsFun, expect := Expect} = Hook, CBs) ->
    case callback(transport(TId), Hook, CBs) of
        {skip, _} -> ok;
        {M, F, Extra} ->
            Expected = case TId of empty_nif -> ok; _ -> Expect end,
            case apply(M, F, ArgsFun(1) ++ Extra) of
                Expected -> ok;
                Other -> error({wrong_answer, HookId, TId, {expected, Expected}, {got, Other}})
            end
    end.

kind(TId) -> maps:get(kind, transport(TId)).

in_group(#{kind := nif, mode := M} = T, M) -> not is_map_key(log_level, T);
in_group(_, _) -> false.

%% The logging cases' transport: the broker's level is set around them.
is_log_transport(TId) -> is_map_key(log_level, transport(TId)).

%% One repetition of every case, grouped by driver mode (one enable each),
%% then the port driver's cases (enabled around them), then the floors.
run_rep(#{profile := Profile, handler := Handler, root := Root} = Ctx, Cases, Rep) ->
    io:format("-- repetition ~b of ~b~n", [Rep, maps:get(reps, Profile)]),
    Modes = [inline, dirty_cpu, dirty_io, pool],
    NifRows = lists:append(
                [begin
                     CBs = use_mode(Handler, Mode),
                     Group = [C || {_, T, _} = C <- Cases, in_group(transport(T), Mode)],
                     Group =/= [] andalso mode_warmup(Ctx, hd(Group), CBs),
                     lists:append([run_case(Ctx, C, CBs) || C <- Group])
                 end || Mode <- Modes,
                        lists:any(fun({_, T, _}) -> in_group(transport(T), Mode) end, Cases)]),
    LogRows = case [C || {_, T, _} = C <- Cases, is_log_transport(T)] of
                  [] -> [];
                  LogCases -> with_broker_level(info, fun() -> run_log_cases(Ctx, LogCases) end)
              end,
    PortRows = lists:append(
                 [begin
                      T = transport(PT),
                      ok = enable_port(Ctx, T),
                      Group = [C || {_, T1, _} = C <- Cases, T1 =:= PT],
                      port_warmup(Ctx, T, Group),
                      Rows = lists:append([run_case(Ctx, C, #{}) || C <- Group]),
                      ok = disable_port(T),
                      Rows
                  end || PT <- port_transports(Cases)]),
    PythonRows = lists:append(
                   [begin
                        ok = enable_python(Root, transport(PT)),
                        Group = [C || {_, T, _} = C <- Cases, T =:= PT],
                        mode_warmup(Ctx, hd(Group), #{}),
                        PyRows = lists:append([run_case(Ctx, C, #{}) || C <- Group]),
                        ok = disable_python(transport(PT)),
                        PyRows
                    end || PT <- python_transports(Cases)]),
    Floors = [C || {_, T, _} = C <- Cases, kind(T) =:= floor],
    NifRows ++ LogRows ++ PortRows ++ PythonRows ++ lists:append([run_case(Ctx, C, #{}) || C <- Floors]).

%% The logging cases, the NIF driver inline with the broker at info. The
%% info lines the SDK's queue had no room for (it drops and counts them,
%% reported to the plugin once a second: hence the wait) are put on the
%% info rows.
run_log_cases(#{handler := Handler} = Ctx, LogCases) ->
    CBs = use_mode(Handler, inline),
    Name = atom_to_binary(?DRIVER),
    Dropped0 = emqx_extension_hook_log:dropped(Name),
    mode_warmup(Ctx, hd(LogCases), CBs),
    Rows = lists:append([run_case(Ctx, C, CBs) || C <- LogCases]),
    receive after 1100 -> ok end,
    Dropped = emqx_extension_hook_log:dropped(Name) - Dropped0,
    [case R of
         #{hook := publish_log_info} -> R#{log_dropped => Dropped};
         _ -> R
     end || R <- Rows].

%% Runs `Fun' with the broker's (the primary logger's) level at `Level';
%% a driver enabled meanwhile follows it from its start (the plugin pushes
%% the level at enable). The level is error again after, which the next
%% enable, or the plugin's poll within a second, pushes to the drivers.
with_broker_level(Level, Fun) ->
    #{level := Old} = logger:get_primary_config(),
    ok = logger:set_primary_config(level, Level),
    try Fun()
    after ok = logger:set_primary_config(level, Old)
    end.

mode_warmup(#{profile := #{mode_warmup_ms := Ms}} = Ctx, Case, CBs) ->
    mode_warmup(Ctx, Case, CBs, Ms).

%% A new JVM runs its code interpreted until the JIT has compiled the hot
%% paths, after some thousands of calls of each: each fold hook of the
%% group is called for its share of `jvm_warmup_ms' first.
port_warmup(#{profile := #{jvm_warmup_ms := Ms}, hooks := Hooks} = Ctx, #{id := java}, Group) ->
    Folds = [C || {H, _, _} = C <- Group, maps:get(kind, maps:get(H, Hooks)) =:= fold],
    [mode_warmup(Ctx, C, #{}, Ms div length(Folds)) || C <- Folds],
    ok;
port_warmup(Ctx, _T, Group) ->
    mode_warmup(Ctx, hd(Group), #{}).

mode_warmup(#{hooks := Hooks}, {H, T, _}, CBs, Ms) ->
    Hook = maps:get(H, Hooks),
    case Hook of
        #{kind := fold} ->
            {M, F, X} = callback(transport(T), Hook, CBs),
            _ = measure(b2b, M, F, X, Hook, 2, Ms, 8);
        _ -> ok
    end.

run_case(#{profile := P, hooks := Hooks}, {HookId, TId, Variants}, CBs) ->
    Hook0 = maps:get(HookId, Hooks),
    T = transport(TId),
    %% Port notifications: the probe counts what the handler processes handled.
    Hook = case T of
               #{kind := port} -> Hook0#{probe => probe_of(Hooks, T)};
               _ -> Hook0
           end,
    case callback(T, Hook, CBs) of
        {skip, Why} ->
            [#{hook => HookId, transport => TId, variant => V, procs => N, skip => Why}
             || V <- Variants, N <- procs(HookId)];
        {M, F, Extra} ->
            [begin
                 Row = beside_neighbour(Hook, M, F, Extra,
                                        fun() -> measure_case(P, V, M, F, Extra, Hook, T, N) end),
                 progress(HookId, TId, V, N, Row),
                 Row#{hook => HookId, transport => TId, variant => V, procs => N}
             end || V <- Variants, N <- procs(HookId)]
    end.

measure_case(P, b2b, M, F, X, #{kind := notify} = Hook, #{kind := nif}, N) ->
    #{warmup_ms := W, notify_events := Events, stride := S} = P,
    _ = notify_burst(?DRIVER, M, F, X, Hook, N, max(N, Events * W div 1000), S),
    notify_burst(?DRIVER, M, F, X, Hook, N, Events, S);
%% Python notifications: a fifth of the events (the interpreter handles
%% them an order of magnitude slower than Rust, and the bench must stay
%% within its time).
measure_case(P, b2b, M, F, X, #{kind := notify} = Hook, #{kind := python, driver := D}, N) ->
    #{warmup_ms := W, notify_events := Events0, stride := S} = P,
    Events = Events0 div 5,
    _ = notify_burst(D, M, F, X, Hook, N, max(N, Events * W div 1000), S),
    notify_burst(D, M, F, X, Hook, N, Events, S);
%% Python fold hooks: every answer is checked (the failure policy would
%% answer otherwise), only the handler's answers counted and timed.
measure_case(P, b2b, M, F, X, #{expect := E} = Hook, #{kind := python}, N) ->
    #{warmup_ms := W, b2b_ms := D, stride := S} = P,
    _ = measure(b2b, M, F, X, Hook, N, W, S, {expect, E}),
    measure(b2b, M, F, X, Hook, N, D, S, {expect, E});
measure_case(P, b2b, M, F, X, #{kind := notify} = Hook, #{kind := port, driver := Driver}, N) ->
    #{warmup_ms := W, notify_events := Events, stride := S} = P,
    _ = port_notify_burst(Driver, M, F, X, Hook, N, max(N, Events * W div 1000), S),
    port_notify_burst(Driver, M, F, X, Hook, N, Events, S);
measure_case(P, sparse, M, F, X, #{kind := notify} = Hook, #{kind := port, driver := Driver}, N) ->
    #{warmup_ms := W, sparse_ms := D} = P,
    _ = measure(sparse, M, F, X, Hook, N, max(W, 20), 1),
    Row = port_counted(Driver, Hook, fun() -> measure(sparse, M, F, X, Hook, N, D, 1) end),
    %% Let the handler processes finish before the next case is timed.
    _ = probe_counts(maps:get(probe, Hook), N),
    Row;
%% Port fold hooks: every answer is checked; a call the driver refused
%% (port busy, timeout) is counted apart, neither in calls/s nor timed.
measure_case(P, Variant, M, F, X, #{expect := E} = Hook, #{kind := port, driver := Driver}, N) ->
    {W, D, S} = case P of
                    #{warmup_ms := W0, b2b_ms := D0, stride := S0} when Variant =:= b2b -> {W0, D0, S0};
                    #{warmup_ms := W0, sparse_ms := D0} -> {max(W0, 20), D0, 1}
                end,
    _ = measure(Variant, M, F, X, Hook, N, W, S, {expect, E}),
    port_counted(Driver, Hook, fun() -> measure(Variant, M, F, X, Hook, N, D, S, {expect, E}) end);
measure_case(P, b2b, M, F, X, Hook, _T, N) ->
    #{warmup_ms := W, b2b_ms := D, stride := S} = P,
    _ = measure(b2b, M, F, X, Hook, N, W, S),
    measure(b2b, M, F, X, Hook, N, D, S);
measure_case(P, sparse, M, F, X, Hook, T, N) ->
    #{warmup_ms := W, sparse_ms := D} = P,
    _ = measure(sparse, M, F, X, Hook, N, max(W, 20), 1),
    Row = measure(sparse, M, F, X, Hook, N, D, 1),
    case {Hook, T} of
        {#{kind := notify}, #{kind := nif}} ->
            %% Let the workers finish before the next case is timed.
            _ = wait_handled(?DRIVER, maps:get(point, Hook), 0, 10000),
            Row;
        _ -> Row
    end.

%% Runs the measurement `Measure' while, for a hook with a `neighbour',
%% one more process calls the same callback with the neighbour's
%% arguments back to back (each of its calls takes 100 ms in the
%% handler); the row notes how many calls it made.
beside_neighbour(#{neighbour := Args}, M, F, X, Measure) ->
    Parent = self(),
    Pid = spawn_link(fun() -> Parent ! {neighbour, self(), neighbour_loop(M, F, Args ++ X, 0)} end),
    %% Its first call is under way before anything is timed.
    receive after 5 -> ok end,
    Row = Measure(),
    Pid ! stop,
    Calls = receive {neighbour, Pid, N} -> N after 10000 -> error(neighbour_stuck) end,
    Row#{neighbour_calls => Calls};
beside_neighbour(_Hook, _M, _F, _X, Measure) ->
    Measure().

neighbour_loop(M, F, A, N) ->
    receive stop -> N
    after 0 ->
            _ = apply(M, F, A),
            neighbour_loop(M, F, A, N + 1)
    end.

%% The port driver's counters for the hook over Fun's measurement: calls
%% it refused because the port was busy (`busy'; for a notification,
%% `dropped'), failed, timed out; handler process restarts.
port_counted(Driver, #{point := Point, kind := Kind}, Fun) ->
    {R0, Before} = port_stats(Driver, Point),
    Row = Fun(),
    {R1, After} = port_stats(Driver, Point),
    D = fun(K) -> maps:get(K, After) - maps:get(K, Before) end,
    Busy = case Kind of fold -> busy; notify -> dropped end,
    Row#{Busy => D(dropped), failed => D(failed), timed_out => D(timed_out), restarts => R1 - R0}.

port_stats(Driver, Point) ->
    [#{restarts := R, hooks := Hooks}] =
        [S || S = #{name := Name} <- emqx_extension_hook:stats(), Name =:= atom_to_binary(Driver)],
    {R, proplists:get_value(Point, Hooks)}.

progress(HookId, TId, V, N, #{calls_per_s := R, p50_us := P50, p99_us := P99, cpu_us := Cpu} = Row) ->
    Extra = case Row of
                #{sustained_per_s := S} -> io_lib:format("  sustained ~s/s dropped ~b",
                                                         [si(S), maps:get(dropped, Row)]);
                _ -> ""
            end
        ++ case Row of
               #{lost := L} -> io_lib:format(" lost ~b", [L]);
               _ -> ""
           end
        ++ case Row of
               #{refused := Ref} when Ref > 0 -> io_lib:format("  refused ~b (busy ~b, failed ~b, timed out ~b)",
                                                               [Ref, maps:get(busy, Row, 0), maps:get(failed, Row, 0),
                                                                maps:get(timed_out, Row, 0)]);
               _ -> ""
           end,
    io:format("  ~-11s ~-9s ~-6s ~2b procs: ~9s calls/s  p50 ~8.2f  p99 ~8.2f us  cpu ~7.2f us/call~s~n",
              [HookId, TId, V, N, si(R), P50, P99, Cpu, Extra]).

%%====================================================================
%% Measuring
%%====================================================================

%% N processes call M:F(Args(I) ++ X) for Ms milliseconds (b2b: back to
%% back, one call in Stride timed; sparse: one call per millisecond, each
%% timed) or, with {count, Total}, Total calls in all as fast as they can.
%% Calls/s over the wall time from go to the last process done; CPU is
%% the VM's OS process CPU (all threads; and the port driver's OS
%% processes while it is enabled) over the same interval.
%%
%% Check: `none', or `{expect, Answer}': each answer is compared, and only
%% the calls answered so are counted and timed; the others are `refused'.
measure(Variant, M, F, X, Hook, N, Ms, Stride) ->
    measure(Variant, M, F, X, Hook, N, Ms, Stride, none).

measure(Variant, M, F, X, #{args := ArgsFun}, N, Ms, Stride, Check) ->
    H = counters:new(?NBUCKETS, [write_concurrency]),
    Parent = self(),
    Quota = case Variant of {count, Total} -> max(1, Total div N); _ -> 0 end,
    Pids = [spawn_opt(fun() -> caller(Parent, M, F, ArgsFun(I) ++ X, H, Variant, Stride, Quota, Check) end,
                      [link, {min_heap_size, 2048}])
            || I <- lists:seq(1, N)],
    [receive {ready, Pid} -> ok end || Pid <- Pids],
    Cpu0 = cpu_parts(),
    T0 = erlang:monotonic_time(nanosecond),
    Deadline = T0 + Ms * 1000000,
    [Pid ! {go, Deadline} || Pid <- Pids],
    {Calls, Refused} = lists:foldl(fun(Pid, {C0, R0}) -> receive {done, Pid, C, R} -> {C0 + C, R0 + R} end end,
                                   {0, 0}, Pids),
    T1 = erlang:monotonic_time(nanosecond),
    Cpu1 = cpu_parts(),
    Secs = (T1 - T0) / 1.0e9,
    Row = maps:merge(cpu_row(Cpu0, Cpu1, Calls),
                     #{calls => Calls, secs => Secs, calls_per_s => Calls / Secs,
                       p50_us => quantile(H, 0.5), p99_us => quantile(H, 0.99)}),
    case Check of
        none -> Row;
        {expect, _} -> Row#{refused => Refused}
    end.

%% client.connected through driver `Driver' (NIF transport): N processes
%% cast Events in all as fast as they can; then wait until the driver's
%% counters show every event handled (or dropped). The caller's rate and
%% latency, the sustained rate through the handler, CPU per event over the
%% whole time.
notify_burst(Driver, M, F, X, #{point := Point, args := ArgsFun}, N, Events, Stride) ->
    H = counters:new(?NBUCKETS, [write_concurrency]),
    Parent = self(),
    Quota = max(1, Events div N),
    Before = hook_stats(Driver, Point),
    Pids = [spawn_opt(fun() -> caller(Parent, M, F, ArgsFun(I) ++ X, H, {count, Quota}, Stride, Quota, none) end,
                      [link, {min_heap_size, 2048}])
            || I <- lists:seq(1, N)],
    [receive {ready, Pid} -> ok end || Pid <- Pids],
    Cpu0 = cpu_parts(),
    T0 = erlang:monotonic_time(nanosecond),
    [Pid ! {go, 0} || Pid <- Pids],
    Calls = lists:sum([receive {done, Pid, C, _} -> C end || Pid <- Pids]),
    T1 = erlang:monotonic_time(nanosecond),
    After = wait_handled(Driver, Point, Calls + settled(Before), 60000),
    T2 = erlang:monotonic_time(nanosecond),
    {CpuVm, CpuExtra} = cpu_delta(Cpu0, cpu_parts()),
    Succeeded = maps:get(succeeded, After) - maps:get(succeeded, Before),
    #{calls => Calls, secs => (T1 - T0) / 1.0e9, calls_per_s => Calls / ((T1 - T0) / 1.0e9),
      p50_us => quantile(H, 0.5), p99_us => quantile(H, 0.99),
      cpu_us => (CpuVm + CpuExtra) / max(1, Calls),
      sustained_per_s => Succeeded / ((T2 - T0) / 1.0e9),
      drain_secs => (T2 - T0) / 1.0e9,
      dropped => maps:get(dropped, After) - maps:get(dropped, Before),
      failed => maps:get(failed, After) - maps:get(failed, Before)}.

%% client.connected through the port driver. The driver's counters say
%% what was sent to the ports, not what the handler processes handled
%% (their counter lives in another OS process), so: each caller casts its
%% share as fast as it can, then calls the handler's probe with its own
%% clientid. The probe goes to the same OS process and the same lane
%% as the caller's events, so it is answered after they were
%% handled, with that process's count. Handled: the count each process
%% reached (the highest its probes saw, once every caller's came back)
%% minus its count before the burst; sustained: handled events over the
%% time from the first cast to the last probe's answer.
port_notify_burst(Driver, M, F, X, #{point := Point, args := ArgsFun, probe := Probe}, N, Events, Stride) ->
    H = counters:new(?NBUCKETS, [write_concurrency]),
    Parent = self(),
    Quota = max(1, Events div N),
    Base = probe_counts(Probe, N),
    {R0, Before} = port_stats(Driver, Point),
    Pids = [spawn_opt(fun() ->
                              A = ArgsFun(I) ++ X,
                              Parent ! {ready, self()},
                              receive {go, _} -> ok end,
                              Calls = counted(M, F, A, H, Stride, Quota, 0),
                              Tc = erlang:monotonic_time(nanosecond),
                              Count = probe(Probe, I),
                              Tp = erlang:monotonic_time(nanosecond),
                              Parent ! {done, self(), Calls, Tc, Count, Tp}
                      end, [link, {min_heap_size, 2048}])
            || I <- lists:seq(1, N)],
    [receive {ready, Pid} -> ok end || Pid <- Pids],
    Cpu0 = cpu_parts(),
    T0 = erlang:monotonic_time(nanosecond),
    [Pid ! {go, 0} || Pid <- Pids],
    Done = [receive {done, Pid, C, Tc, Count, Tp} -> {C, Tc, Count, Tp} end || Pid <- Pids],
    Cpu1 = cpu_parts(),
    {R1, After} = port_stats(Driver, Point),
    Calls = lists:sum([C || {C, _, _, _} <- Done]),
    T1 = lists:max([Tc || {_, Tc, _, _} <- Done]),
    T2 = lists:max([Tp || {_, _, _, Tp} <- Done]),
    Final = max_by_process([Count || {_, _, Count, _} <- Done]),
    true = lists:sort(maps:keys(Final)) =:= lists:sort(maps:keys(Base)),
    Handled = lists:sum([C - maps:get(P, Base) || {P, C} <- maps:to_list(Final)]),
    Dropped = maps:get(dropped, After) - maps:get(dropped, Before),
    (cpu_row(Cpu0, Cpu1, Calls))#{
      calls => Calls, secs => (T1 - T0) / 1.0e9, calls_per_s => Calls / ((T1 - T0) / 1.0e9),
      p50_us => quantile(H, 0.5), p99_us => quantile(H, 0.99),
      sustained_per_s => Handled / ((T2 - T0) / 1.0e9),
      drain_secs => (T2 - T0) / 1.0e9,
      handled => Handled,
      %% Refused at the caller: the port was busy (never sent).
      dropped => Dropped,
      %% Sent to a handler process and not handled there.
      lost => Calls - Dropped - Handled,
      failed => maps:get(failed, After) - maps:get(failed, Before),
      restarts => R1 - R0}.

%% The probe's callback and arguments (a Port transport driver's
%% message.delivered).
probe_of(Hooks, T) ->
    Probe = maps:get(probe, Hooks),
    {M, F, X} = port_callbacks(T, Probe),
    {M, F, X, maps:get(args, Probe)}.

%% {OsPid, client.connected events handled} of the handler process that
%% serves caller I's clientid, once the events queued before it are
%% handled. A probe the driver refuses (port busy) is tried again.
probe({M, F, X, ArgsFun}, I) ->
    probe_(M, F, ArgsFun(I) ++ X, 10000).

probe_(M, F, A, Tries) ->
    case apply(M, F, A) of
        {ok, Msg} when element(1, Msg) =:= message ->
            [OsPid, Count] = binary:split(element(8, Msg), <<" ">>),
            {binary_to_integer(OsPid), binary_to_integer(Count)};
        _Refused when Tries > 0 ->
            receive after 1 -> ok end,
            probe_(M, F, A, Tries - 1);
        Other ->
            error({probe_failed, Other})
    end.

%% The count of each handler process, once callers 1..N's events are handled.
probe_counts(Probe, N) ->
    max_by_process([probe(Probe, I) || I <- lists:seq(1, N)]).

max_by_process(Counts) ->
    lists:foldl(fun({P, C}, Acc) -> maps:update_with(P, fun(C0) -> max(C0, C) end, C, Acc) end,
                #{}, Counts).

settled(#{succeeded := S, dropped := D, failed := F}) -> S + D + F.

%% Polls driver `Driver''s counters until `Target' events of `Point' are
%% settled (0: until nothing is queued); the counters then.
wait_handled(Driver, Point, Target, TimeoutMs) ->
    Until = erlang:monotonic_time(millisecond) + TimeoutMs,
    wait_handled_(Driver, Point, Target, Until).

wait_handled_(Driver, Point, Target, Until) ->
    Stats = hook_stats(Driver, Point),
    Done = case Target of
               0 -> maps:get(queued, Stats) =:= 0 andalso settled(Stats) >= maps:get(calls, Stats);
               _ -> settled(Stats) >= Target
           end,
    case Done orelse erlang:monotonic_time(millisecond) > Until of
        true -> Stats;
        false ->
            receive after 1 -> ok end,
            wait_handled_(Driver, Point, Target, Until)
    end.

hook_stats(Driver, Point) ->
    Name = atom_to_binary(Driver),
    [Hooks] = [Hs || #{name := N, hooks := Hs} <- emqx_extension_hook:stats(), N =:= Name],
    proplists:get_value(Point, Hooks).

caller(Parent, M, F, A, H, Variant, Stride, Quota, Check) ->
    Parent ! {ready, self()},
    receive {go, Deadline} -> ok end,
    {Calls, Refused} =
        case {Variant, Check} of
            {b2b, none} -> {b2b(M, F, A, H, Stride, Deadline, 0), 0};
            {b2b, {expect, E}} -> b2b_checked(M, F, A, H, Stride, Deadline, E, {0, 0});
            {sparse, _} -> sparse(M, F, A, H, erlang:monotonic_time(nanosecond), Deadline, Check, {0, 0});
            {{count, _}, none} -> {counted(M, F, A, H, Stride, Quota, 0), 0}
        end,
    Parent ! {done, self(), Calls, Refused}.

b2b(M, F, A, H, Stride, Deadline, N) ->
    T0 = erlang:monotonic_time(nanosecond),
    _ = erlang:apply(M, F, A),
    T1 = erlang:monotonic_time(nanosecond),
    counters:add(H, bucket(T1 - T0) + 1, 1),
    untimed(M, F, A, Stride - 1),
    case T1 < Deadline of
        true -> b2b(M, F, A, H, Stride, Deadline, N + Stride);
        false -> N + Stride
    end.

%% As b2b/7, each answer compared with E: {answered as expected, refused};
%% only the former are timed.
b2b_checked(M, F, A, H, Stride, Deadline, E, Acc) ->
    T0 = erlang:monotonic_time(nanosecond),
    R = erlang:apply(M, F, A),
    T1 = erlang:monotonic_time(nanosecond),
    Acc1 = case R of
               E -> counters:add(H, bucket(T1 - T0) + 1, 1), tally(true, Acc);
               _ -> tally(false, Acc)
           end,
    Acc2 = untimed_checked(M, F, A, E, Stride - 1, Acc1),
    case T1 < Deadline of
        true -> b2b_checked(M, F, A, H, Stride, Deadline, E, Acc2);
        false -> Acc2
    end.

tally(true, {Good, Bad}) -> {Good + 1, Bad};
tally(false, {Good, Bad}) -> {Good, Bad + 1}.

untimed_checked(_M, _F, _A, _E, K, Acc) when K =< 0 -> Acc;
untimed_checked(M, F, A, E, K, Acc) ->
    untimed_checked(M, F, A, E, K - 1, tally(erlang:apply(M, F, A) =:= E, Acc)).

counted(_M, _F, _A, _H, _Stride, Quota, N) when N >= Quota -> N;
counted(M, F, A, H, Stride, Quota, N) ->
    T0 = erlang:monotonic_time(nanosecond),
    _ = erlang:apply(M, F, A),
    T1 = erlang:monotonic_time(nanosecond),
    counters:add(H, bucket(T1 - T0) + 1, 1),
    K = min(Stride - 1, Quota - N - 1),
    untimed(M, F, A, K),
    counted(M, F, A, H, Stride, Quota, N + 1 + K).

untimed(_M, _F, _A, K) when K =< 0 -> ok;
untimed(M, F, A, K) ->
    _ = erlang:apply(M, F, A),
    untimed(M, F, A, K - 1).

%% One call per millisecond on a fixed schedule (a caller more than 2 ms
%% behind starts a new schedule rather than bursting to catch up). With
%% {expect, E}, only the calls answered E are timed.
sparse(M, F, A, H, Next, Deadline, Check, Acc) ->
    T0 = erlang:monotonic_time(nanosecond),
    R = erlang:apply(M, F, A),
    T1 = erlang:monotonic_time(nanosecond),
    Acc1 = case Check of
               {expect, E} when R =/= E -> tally(false, Acc);
               _ -> counters:add(H, bucket(T1 - T0) + 1, 1), tally(true, Acc)
           end,
    case T1 < Deadline of
        true ->
            Next1 = case Next + 1000000 of
                        Late when Late < T1 - 2000000 -> T1 + 1000000;
                        On -> On
                    end,
            WaitMs = (Next1 - erlang:monotonic_time(nanosecond) + 999999) div 1000000,
            WaitMs > 0 andalso receive after WaitMs -> ok end,
            sparse(M, F, A, H, Next1, Deadline, Check, Acc1);
        false ->
            Acc1
    end.

%% CPU time, in µs, of the whole OS process: every thread, the VM's
%% schedulers and the driver's native worker threads alike; and, while a
%% Port transport's driver is measured, of its handler processes. Read as
%% snapshots, the time between two of them by `cpu_delta/2'.
cpu_parts() ->
    cpu_snapshot(extra_cpu_pids()).

%% @doc A snapshot of the CPU time of this VM and of OS processes `Pids':
%% per process, each thread's (schedstat, ns) and the process's utime +
%% stime (/proc/PID/stat, clock ticks).
-spec cpu_snapshot([non_neg_integer()]) -> {term(), [term()]}.
cpu_snapshot(Pids) ->
    {proc_cpu("self"), [proc_cpu(integer_to_list(P)) || P <- Pids]}.

proc_cpu(Proc) ->
    {threads_cpu_ns(Proc, ""), stat_us(Proc)}.

%% @doc {this VM's, the other processes' (summed)} CPU time in µs between
%% two snapshots of `cpu_snapshot/1' (same pids).
-spec cpu_delta({term(), [term()]}, {term(), [term()]}) -> {number(), number()}.
cpu_delta({Vm0, Ps0}, {Vm1, Ps1}) ->
    {proc_delta(Vm0, Vm1), lists:sum([0 | [proc_delta(A, B) || {A, B} <- lists:zip(Ps0, Ps1)]])}.

%% One process's CPU time between two snapshots: the sum over its threads
%% (a thread started meanwhile counts from 0) while every thread of the
%% first is still there; when one has ended (a JVM's compiler or GC
%% thread, a pool worker retiring), whose time the sum would lose, the
%% process's utime + stime, which keeps it (clock-tick resolution).
proc_delta({T0, S0}, {T1, S1}) ->
    case cpu_source() =:= schedstat andalso lists:all(fun(Tid) -> is_map_key(Tid, T1) end, maps:keys(T0)) of
        true -> maps:fold(fun(Tid, Ns, Acc) -> Acc + Ns - maps:get(Tid, T0, 0) end, 0, T1) / 1000;
        false -> S1 - S0
    end.

%% CPU per call, and for the Port the handler processes' share.
cpu_row(Cpu0, Cpu1, Calls) ->
    {Vm, Port} = cpu_delta(Cpu0, Cpu1),
    Row = #{cpu_us => (Vm + Port) / max(1, Calls)},
    case extra_cpu_pids() of
        [] -> Row;
        _ -> Row#{port_cpu_us => Port / max(1, Calls)}
    end.

extra_cpu_pids() ->
    case get({?MODULE, extra_cpu_pids}) of
        undefined -> [];
        Pids -> Pids
    end.

%% schedstat where the kernel has it (ns per thread), else stat (clock ticks).
cpu_source() ->
    case persistent_term:get({?MODULE, cpu_source}, undefined) of
        undefined ->
            Source = case prim_file:read_file("/proc/self/schedstat") of
                         {ok, <<_, _/binary>>} -> schedstat;
                         _ -> stat
                     end,
            persistent_term:put({?MODULE, cpu_source}, Source),
            Source;
        Source -> Source
    end.

stat_us(Proc) ->
    case prim_file:read_file("/proc/" ++ Proc ++ "/stat") of
        {ok, Stat} ->
            [_, After] = binary:split(Stat, <<") ">>, [trim_all]),
            Fields = binary:split(After, <<" ">>, [global]),
            %% Fields 14 and 15 of stat(5); After starts at field 3.
            UTime = binary_to_integer(lists:nth(12, Fields)),
            STime = binary_to_integer(lists:nth(13, Fields)),
            (UTime + STime) * 1000000 div clk_tck();
        {error, _} when Proc =/= "self" -> 0
    end.

clk_tck() ->
    case persistent_term:get({?MODULE, clk_tck}, undefined) of
        undefined ->
            Tck = case string:to_integer(string:trim(os:cmd("getconf CLK_TCK"))) of
                      {T, []} when T > 0 -> T;
                      _ -> 100
                  end,
            persistent_term:put({?MODULE, clk_tck}, Tck),
            Tck;
        Tck -> Tck
    end.

%%====================================================================
%% Histogram
%%====================================================================

bucket(V) when V < ?LINEAR -> max(V, 0);
bucket(V) ->
    E = msb(V),
    case E > ?MAX_EXP of
        true -> ?NBUCKETS - 1;
        false -> ?LINEAR + (E - 6) * ?SUB + ((V bsr (E - ?SUB_BITS)) band (?SUB - 1))
    end.

%% The index of the highest set bit.
msb(V) -> b32(V, 0).
b32(V, A) when V >= 16#100000000 -> b16(V bsr 32, A + 32);
b32(V, A) -> b16(V, A).
b16(V, A) when V >= 16#10000 -> b8(V bsr 16, A + 16);
b16(V, A) -> b8(V, A).
b8(V, A) when V >= 16#100 -> b4(V bsr 8, A + 8);
b8(V, A) -> b4(V, A).
b4(V, A) when V >= 16#10 -> b2(V bsr 4, A + 4);
b4(V, A) -> b2(V, A).
b2(V, A) when V >= 4 -> b1(V bsr 2, A + 2);
b2(V, A) -> b1(V, A).
b1(V, A) when V >= 2 -> A + 1;
b1(_V, A) -> A.

bucket_mid_ns(I) when I < ?LINEAR -> I + 0.5;
bucket_mid_ns(I) ->
    E = (I - ?LINEAR) div ?SUB + 6,
    Sub = (I - ?LINEAR) rem ?SUB,
    Width = 1 bsl (E - ?SUB_BITS),
    (?SUB + Sub) * Width + Width / 2.

%% The q quantile in µs.
quantile(H, Q) ->
    Counts = [counters:get(H, I) || I <- lists:seq(1, ?NBUCKETS)],
    Total = lists:sum(Counts),
    case Total of
        0 -> 0.0;
        _ -> Rank = max(1, ceil(Q * Total)),
             quantile_(Counts, 0, 0, Rank) / 1000
    end.

quantile_([C | Rest], I, Seen, Rank) ->
    case Seen + C >= Rank of
        true -> bucket_mid_ns(I);
        false -> quantile_(Rest, I + 1, Seen + C, Rank)
    end;
quantile_([], I, _, _) -> bucket_mid_ns(I - 1).

%%====================================================================
%% Aggregation
%%====================================================================

%% Medians over the repetitions, per (hook, transport, variant, procs), in case-list order.
aggregate(Vm, Measured, Cases, Hooks) ->
    [begin
         Reps = [R || R = #{hook := H1, transport := T1, variant := V1, procs := N1} <- Measured,
                      H1 =:= H, T1 =:= T, V1 =:= V, N1 =:= N],
         Hook = maps:get(H, Hooks),
         Base = #{vm => Vm, hook => H, hook_label => maps:get(label, Hook),
                  point => maps:get(point, Hook), transport => T,
                  transport_label => maps:get(label, transport(T)),
                  variant => V, procs => N, reps => length(Reps),
                  log_lines => maps:get(log_lines, Hook, 0)},
         case Reps of
             [#{skip := Why} | _] -> Base#{skip => Why};
             _ -> maps:merge(medians(Reps), Base#{range => ranges(Reps)})
         end
     end || {H, T, Variants} <- Cases, V <- Variants, N <- procs(H)].

%% Counts (integers in every repetition) stay integers: of an even number
%% of repetitions, the lower middle one, which the report prints as a count.
medians(Reps) ->
    Keys = [K || K <- maps:keys(hd(Reps)), is_number(maps:get(K, hd(Reps)))],
    maps:from_list([{K, case [maps:get(K, R) || R <- Reps] of
                            Ints = [_ | _] when is_integer(hd(Ints)) ->
                                case lists:all(fun erlang:is_integer/1, Ints) of
                                    true -> lists:nth((length(Ints) + 1) div 2, lists:sort(Ints));
                                    false -> median(Ints)
                                end;
                            Xs -> median(Xs)
                        end} || K <- Keys]).

%% The lowest and highest value over the repetitions, of the figures
%% that vary most from one to the next on a shared machine.
ranges(Reps) ->
    maps:from_list([{K, {lists:min(Vs), lists:max(Vs)}}
                    || K <- [calls_per_s, p50_us, p99_us, sustained_per_s],
                       Vs <- [[V || #{K := V} <- Reps]], Vs =/= []]).

%% @doc The median of numbers (of an even count, the mean of the middle two).
-spec median([number(), ...]) -> number().
median(Xs) ->
    S = lists:sort(Xs),
    L = length(S),
    case L rem 2 of
        1 -> lists:nth(L div 2 + 1, S);
        0 -> (lists:nth(L div 2, S) + lists:nth(L div 2 + 1, S)) / 2
    end.

%%====================================================================
%% Facts
%%====================================================================

facts(Vm, Profile) ->
    Cmd = fun(C) -> string:trim(os:cmd(C)) end,
    Model = case file:read_file("/proc/cpuinfo") of
                {ok, Info} ->
                    case re:run(Info, "model name\\s*:\\s*(.*)", [{capture, [1], binary}]) of
                        {match, [M]} -> M;
                        nomatch -> <<"unknown">>
                    end;
                _ -> <<"unknown">>
            end,
    #{vm => Vm, profile => Profile,
      vm_flags => case Vm of
                      default -> "default busy-waiting";
                      sbwt_none -> "+sbwt none +sbwtdcpu none +sbwtdio none"
                  end,
      logical_processors_available => erlang:system_info(logical_processors_available),
      nproc => Cmd("nproc"),
      schedulers_online => erlang:system_info(schedulers_online),
      dirty_cpu_schedulers_online => erlang:system_info(dirty_cpu_schedulers_online),
      dirty_io_schedulers => erlang:system_info(dirty_io_schedulers),
      otp_release => erlang:system_info(otp_release),
      erts_version => erlang:system_info(version),
      rustc => Cmd("rustc --version"),
      python => Cmd("/usr/bin/python3 --version"),
      java => Cmd("java -version 2>&1 | head -1"),
      loadavg => Cmd("cut -d' ' -f1-3 /proc/loadavg"),
      java_processes => ?JAVA_PROCESSES,
      cpu_model => Model,
      kernel => Cmd("uname -sr"),
      clk_tck => clk_tck(),
      cpu_source => case cpu_source() of
                        schedstat -> <<"sum of /proc/PID/task/*/schedstat (ns; /proc/PID/stat utime+stime, "
                                       "in clock ticks, for a process one of whose threads ended meanwhile)">>;
                        stat -> <<"/proc/PID/stat utime+stime (clock ticks)">>
                    end,
      port_processes => ?PORT_PROCESSES,
      git => Cmd("git describe --always --dirty 2>/dev/null"),
      git_changes => Cmd("git status --porcelain --untracked-files=no 2>/dev/null | wc -l"),
      date => calendar:system_time_to_rfc3339(erlang:system_time(second)),
      profile_settings => profile(Profile)}.

si(X) when X >= 1.0e6 -> io_lib:format("~.2f M", [X / 1.0e6]);
si(X) when X >= 1.0e3 -> io_lib:format("~.1f k", [X / 1.0e3]);
si(X) -> integer_to_list(round(X)).
