%% @doc What a saturated broker loses to the plugin: callers that stand in
%% for a busy broker's connection processes each do a fixed amount of
%% broker-like work per message (route lookups in ETS, the message copied
%% to a subscriber process, which counts it; about 20 µs of CPU in all)
%% and call the `message.publish' hook the plugin registered, with every
%% core busy; the messages per second they manage, against the same work
%% without the hook, in the same VM run.
%%
%% The rows take the hook's cost apart: the Erlang side alone (the
%% callback and the driver lookup, through a hook the handler does not
%% implement, so no NIF is called; the EMQX metric is no longer on the
%% path: the plugin adds its counts once a second), then the handler in
%% each mode and over the Port transport, then a handler that logs one
%% line per message (at info, the broker at info), or at debug (filtered:
%% the broker at info). Besides messages/s, the CPU time of the VM (every
%% thread) and of the Port's handler processes per message.
%%
%% On a shared machine the CPU this VM gets changes from one second to the
%% next, so the variants are not measured one after the other: the same
%% callers run for the whole measurement and switch variant every slice
%% (a fifth of a second), each round giving every variant one slice, in an
%% order drawn anew each round. A variant's figures are
%% compared with the broker alone's of the same round; a row gives the
%% median over the rounds. Each mode is a driver of its own (`bench'
%% inline, `bench_pool', `bench_port'), all enabled throughout, so a
%% switch is only another callback.
%%
%% bench/run.sh runs it after the two `exhook_bench' VM runs, in a VM of
%% its own with the default flags; `exhook_bench_report' reports it.
-module(exhook_bench_saturation).

-export([main/1, run/1]).

-define(DRIVER, bench).
-define(POOL_DRIVER, bench_pool).
-define(PORT_DRIVER, bench_port).
-define(ROUTES, exhook_bench_routes).

%% Callers: enough to keep every scheduler busy, as a broker's many
%% connection processes do.
-define(CALLERS, 64).
-define(SUBSCRIBERS, 8).
%% The broker-like work per message, in microseconds of CPU.
-define(WORK_US, 20).

%% rounds: every variant one slice of slice_ms each; one more round first,
%% not counted, warms everything up.
profile(full) -> #{rounds => 20, slice_ms => 200};
profile(smoke) -> #{rounds => 3, slice_ms => 100}.

%% The variants, in the order they are measured and shown: id, label, and
%% how the hook is reached (`none': no hook).
variants() ->
    [{none, <<"no hook (the broker's own work)">>},
     {erlang_side, <<"the plugin's Erlang side only (callback, driver lookup; no NIF call)">>},
     {inline, <<"NIF inline">>},
     {pool, <<"NIF pool">>},
     {port, <<"Port">>},
     {inline_log_info, <<"NIF inline, one log line per message (broker at info)">>},
     {inline_log_debug, <<"NIF inline, one debug line per message (broker at info: filtered)">>}].

%% @doc `erl -run exhook_bench_saturation main Profile OutFile HandlerLib Samples'.
-spec main([string()]) -> no_return().
main([Profile, Out, Handler, Samples]) ->
    Code = try
               run(#{profile => list_to_atom(Profile), out => Out, handler => Handler,
                     samples => Samples}),
               0
           catch Class:Reason:Stack ->
                   io:format(standard_error, "saturation bench failed: ~p:~p~n~p~n",
                             [Class, Reason, Stack]),
                   1
           end,
    erlang:halt(Code).

%% @doc Measures every variant; writes `{bench_saturation, Facts, Rows}' to `out'.
-spec run(map()) -> ok.
run(#{profile := ProfileName, out := Out, handler := Handler, samples := SamplesFile}) ->
    Profile = profile(ProfileName),
    {module, _} = code:ensure_loaded(emqx_metrics),
    %% The broker at info: the info lines are made and written.
    ok = logger:set_primary_config(level, info),
    LogFile = exhook_bench:handler_log_to_file(),
    {ok, Samples} = file:consult(SamplesFile),
    {'message.publish', [Msg]} = lists:keyfind('message.publish', 1, Samples),
    Spin = calibrate(setelement(7, Msg, <<"p/1">>)),
    Routes = routes(),
    Subs = [spawn_link(fun subscriber/0) || _ <- lists:seq(1, ?SUBSCRIBERS)],
    ok = start_plugin(Handler),
    io:format("~n== exhook bench: saturation, ~b callers, ~b us of broker work a message ==~n",
              [?CALLERS, ?WORK_US]),
    Ctx = #{msg => Msg, spin => Spin, routes => Routes, subs => list_to_tuple(Subs)},
    %% The drivers' counters are read before and after, not during the
    %% slices: the driver registry is a process the callers would delay.
    Unanswered0 = unanswered(),
    Rounds = measure(Ctx, Profile),
    Unanswered = maps:map(fun(D, N) -> N - maps:get(D, Unanswered0) end, unanswered()),
    Rows = [(row(Id, Label, Rounds))#{unanswered => maps:get(driver_of(Id), Unanswered, 0)}
            || {Id, Label} <- variants()],
    [io:format("  ~-90ts ~10.1f k msg/s  x~.2f  cpu ~6.2f us/msg~n", [L, R / 1000, X, C])
     || #{label := L, msgs_per_s := R, ratio := X, cpu_us_per_msg := C} <- Rows],
    Facts = #{callers => ?CALLERS, work_us => ?WORK_US, schedulers => erlang:system_info(schedulers),
              subscribers => ?SUBSCRIBERS, spin => Spin,
              rounds => maps:get(rounds, Profile), slice_ms => maps:get(slice_ms, Profile)},
    ok = file:write_file(Out, io_lib:format("~p.~n", [{bench_saturation, Facts, Rows}])),
    _ = application:stop(emqx_extension_hook),
    exhook_bench:stop_handler_log(LogFile).

%% A variant's figures over the rounds: messages/s over all its slices,
%% and the medians of its ratio and its extra CPU per message against the
%% broker alone, each taken within a round (with the middle half of the
%% rounds' values). `rates' and `cpu' keep every round's, in order, for
%% ratios between other variants of the same round.
row(Id, Label, Rounds) ->
    Mine = [maps:get(Id, Round) || Round <- Rounds],
    Alone = [maps:get(none, Round) || Round <- Rounds],
    Rate = fun(#{msgs := M, secs := S}) -> M / S end,
    Cpu = fun(#{msgs := M, cpu_us := C}) -> C / max(1, M) end,
    %% A slice in which the broker alone did nothing (the VM descheduled
    %% for it, on a shared machine) gives no ratio.
    Ratios = [Rate(M) / Rate(A) || {M, A} <- lists:zip(Mine, Alone), Rate(A) > 0],
    Extra = [Cpu(M) - Cpu(A) || {M, A} <- lists:zip(Mine, Alone)],
    Msgs = lists:sum([M || #{msgs := M} <- Mine]),
    #{id => Id, label => Label,
      msgs_per_s => Msgs / lists:sum([S || #{secs := S} <- Mine]),
      ratio => median(Ratios), ratio_range => middle_half(Ratios),
      cpu_us_per_msg => lists:sum([C || #{cpu_us := C} <- Mine]) / max(1, Msgs),
      hook_cpu_us => median(Extra), hook_cpu_range => middle_half(Extra),
      port_cpu_us_per_msg => lists:sum([C || #{port_cpu_us := C} <- Mine]) / max(1, Msgs),
      rates => [Rate(M) || M <- Mine], cpu => [Cpu(M) || M <- Mine]}.

median(L) ->
    S = lists:sort(L),
    lists:nth((length(S) + 1) div 2, S).

%% The 25th and 75th percentiles.
middle_half(L) ->
    S = list_to_tuple(lists:sort(L)),
    At = fun(Q) -> element(max(1, round(Q * tuple_size(S))), S) end,
    {At(0.25), At(0.75)}.

%%====================================================================
%% The broker stand-in
%%====================================================================

%% A route table as a broker's: some thousands of topics.
routes() ->
    Tab = ets:new(?ROUTES, [public, {read_concurrency, true}]),
    ets:insert(Tab, [{<<"t/", (integer_to_binary(I))/binary>>, I} || I <- lists:seq(1, 5000)]),
    ets:insert(Tab, {<<"p/1">>, subscribers}),
    Tab.

subscriber() ->
    receive
        {deliver, {message, _, _, _, _, _, _, Payload, _}} ->
            put(bytes, byte_size(Payload) + case get(bytes) of undefined -> 0; B -> B end),
            subscriber()
    end.

%% One message's broker work: route lookups, the message to a subscriber
%% (a copy to its heap), and CPU to make up `?WORK_US'.
broker_work(Msg, I, #{routes := Routes, subs := Subs, spin := Spin}) ->
    Topic = element(7, Msg),
    _ = ets:lookup(Routes, Topic),
    _ = ets:lookup(Routes, <<"t/", (integer_to_binary(I rem 5000))/binary>>),
    _ = ets:lookup(Routes, <<"t/", (integer_to_binary((I * 7) rem 5000))/binary>>),
    element(1 + I rem tuple_size(Subs), Subs) ! {deliver, Msg},
    spin(Spin, Msg).

spin(0, _) -> ok;
spin(N, T) -> _ = erlang:phash2({N, T}), spin(N - 1, T).

%% The spin count that, with the lookups and the send, makes `?WORK_US'
%% of CPU a message on this machine, for the message the callers send (a
%% spin hashes it: its size sets the cost). Timed by the VM's CPU time,
%% not the clock: on a shared machine the clock also counts the time the
%% OS gave others. One process per scheduler, as in the measurement: with
%% one, the idle schedulers' busy-waiting would count as its CPU.
calibrate(Msg) ->
    Ctx = #{routes => routes(), spin => 1000},
    Schedulers = erlang:system_info(schedulers_online),
    PerProcess = 1000,
    Parent = self(),
    Cpu0 = exhook_bench:cpu_snapshot([]),
    Pids = [spawn_link(fun() ->
                               Mine = Ctx#{subs => {self()}},
                               _ = [broker_work(Msg, I, Mine) || I <- lists:seq(1, PerProcess)],
                               Parent ! {calibrated, self()}
                       end) || _ <- lists:seq(1, Schedulers)],
    [receive {calibrated, Pid} -> ok end || Pid <- Pids],
    {T, _} = exhook_bench:cpu_delta(Cpu0, exhook_bench:cpu_snapshot([])),
    PerSpin = T / (PerProcess * Schedulers) / 1000,
    max(1, round(?WORK_US / PerSpin)).

%%====================================================================
%% Variants
%%====================================================================

start_plugin(Handler) ->
    ok = application:load(emqx_extension_hook),
    ok = application:set_env(emqx_extension_hook, drivers,
                             [{?DRIVER, driver_opts(Handler, inline)},
                              {?POOL_DRIVER, driver_opts(Handler, pool)},
                              {?PORT_DRIVER, [{path, Handler}, {transport, port}, {pool_size, 2},
                                              {call_timeout, 5000}, {queue_capacity, 65536}]}]),
    {ok, _} = application:ensure_all_started(emqx_extension_hook),
    ok.

driver_opts(Handler, Mode) ->
    [{path, Handler}, {mode, Mode}, {call_timeout, 5000}, {pool_size, 2}, {queue_capacity, 65536}].

%% The callback a variant calls per message, and the message's topic.
setup(none) -> {none, <<"p/1">>};
setup(erlang_side) ->
    %% A hook the handler does not implement: the callback finds the
    %% driver and the hook's mode and answers `ok' without a NIF call.
    {{emqx_extension_hook_callbacks, on_session_created, [key(?DRIVER)]}, <<"p/1">>};
setup(inline) -> {callback(?DRIVER), <<"p/1">>};
setup(pool) -> {callback(?POOL_DRIVER), <<"p/1">>};
setup(port) -> {callback(?PORT_DRIVER), <<"p/1">>};
setup(inline_log_info) -> {callback(?DRIVER), <<"log/info/1">>};
setup(inline_log_debug) -> {callback(?DRIVER), <<"log/debug/1">>}.

%% The driver whose counters say which calls of a variant the handler did
%% not answer.
driver_of(inline) -> ?DRIVER;
driver_of(inline_log_info) -> ?DRIVER;
driver_of(inline_log_debug) -> ?DRIVER;
driver_of(pool) -> ?POOL_DRIVER;
driver_of(port) -> ?PORT_DRIVER;
driver_of(_) -> none.

key(Driver) -> emqx_extension_hook_handler:key(atom_to_binary(Driver, utf8)).

callback(Driver) ->
    {ok, Callbacks} = emqx_extension_hook:callbacks(Driver),
    {_, MFA} = lists:keyfind('message.publish', 1, Callbacks),
    MFA.

%% Every round: each variant a slice, in an order drawn anew each round
%% (seeded: the same orders every run); the first round warms up and is
%% not kept. A list of rounds, each #{Variant => #{msgs, secs, cpu_us,
%% port_cpu_us}}.
measure(#{msg := Msg0} = Ctx, #{rounds := Rounds, slice_ms := SliceMs}) ->
    Ids = [Id || {Id, _} <- variants()],
    Setups = [setup(Id) || Id <- Ids],
    %% Which variant the callers run (its index in Ids; 0: stop), and the
    %% messages each has done.
    Current = atomics:new(1, []),
    Counts = counters:new(length(Ids), [write_concurrency]),
    %% The callers stop when it is 0: they start on the first variant.
    atomics:put(Current, 1, 1),
    Parent = self(),
    Callers = [spawn_link(fun() -> caller(C, Msg0, Setups, Ctx, Current, Counts), Parent ! {done, self()} end)
               || C <- lists:seq(1, ?CALLERS)],
    PortPids = exhook_bench:driver_os_pids(?PORT_DRIVER),
    Indexed = lists:zip(lists:seq(1, length(Ids)), Ids),
    %% The slices' timing must not wait for 64 busy callers to yield.
    Priority = process_flag(priority, high),
    Slice = fun(I, Id) ->
                    M0 = counters:get(Counts, I),
                    atomics:put(Current, 1, I),
                    Cpu0 = exhook_bench:cpu_snapshot(PortPids),
                    T0 = erlang:monotonic_time(microsecond),
                    receive after SliceMs -> ok end,
                    Cpu1 = exhook_bench:cpu_snapshot(PortPids),
                    T1 = erlang:monotonic_time(microsecond),
                    M1 = counters:get(Counts, I),
                    {Vm, Os} = exhook_bench:cpu_delta(Cpu0, Cpu1),
                    {Id, #{msgs => M1 - M0, secs => (T1 - T0) / 1.0e6,
                           cpu_us => Vm + Os, port_cpu_us => Os}}
            end,
    %% A new order each round, so that what a variant leaves behind (the
    %% logger writing out the info lines, a pool's threads going idle)
    %% does not always land on the same next variant.
    _ = rand:seed(exsss, {7, 11, 13}),
    Run = fun() ->
                  Order = [X || {_, X} <- lists:sort([{rand:uniform(), X} || X <- Indexed])],
                  maps:from_list([Slice(I, Id) || {I, Id} <- Order])
          end,
    _ = Run(),
    Kept = [Run() || _ <- lists:seq(1, Rounds)],
    atomics:put(Current, 1, 0),
    [receive {done, Pid} -> ok end || Pid <- Callers],
    process_flag(priority, Priority),
    Kept.

%% A caller: its own clientid, the message of each variant ready; runs the
%% variant `Current' says, one message at a time, counting it to the
%% variant it started under.
caller(C, Msg0, Setups, Ctx, Current, Counts) ->
    From = setelement(4, Msg0, <<"sat-", (integer_to_binary(C))/binary>>),
    Variants = list_to_tuple([{Callback, setelement(7, From, Topic)} || {Callback, Topic} <- Setups]),
    caller_loop(C, Variants, Ctx, Current, Counts, 0).

caller_loop(C, Variants, Ctx, Current, Counts, N) ->
    case atomics:get(Current, 1) of
        0 -> ok;
        I ->
            {Callback, Msg} = element(I, Variants),
            broker_work(Msg, C + N, Ctx),
            hook(Callback, Msg),
            counters:add(Counts, I, 1),
            caller_loop(C, Variants, Ctx, Current, Counts, N + 1)
    end.

%% #{Driver => its message.publish calls the handler did not answer
%% (refused because the port was busy, failed, timed out: the failure
%% policy answered)}, as the drivers count them.
unanswered() ->
    maps:from_list(
      [{binary_to_atom(Name), lists:sum([maps:get(K, Stats, 0) || K <- [dropped, failed, timed_out]])}
       || #{name := Name, hooks := Hooks} <- emqx_extension_hook:stats(),
          Stats <- [proplists:get_value('message.publish', Hooks, #{})]]).

%% The broker's run_fold of message.publish, for one callback: `ok' keeps
%% the message; a rewrite would replace it.
hook(none, _Msg) -> ok;
hook({M, F, [Key]}, Msg) when F =:= on_session_created ->
    M:F(#{}, #{}, Key), Msg;
hook({M, F, Extra}, Msg) ->
    case erlang:apply(M, F, [Msg | Extra]) of
        {ok, New} -> New;
        {stop, New} -> New;
        _ -> Msg
    end.
