%% @doc What a saturated broker loses to the plugin: callers that stand in
%% for a busy broker's connection processes each do a fixed amount of
%% broker-like work per message (route lookups in ETS, the message copied
%% to a subscriber process, which counts it; about 20 µs of CPU in all)
%% and call the `message.publish' hook the plugin registered, with every
%% core busy; the messages per second they manage, against the same work
%% without the hook, in the same VM run.
%%
%% The rows take the hook's cost apart: the Erlang side alone (the
%% callback, the driver lookup, the EMQX metric), then the handler in each
%% mode and over the Port transport, then a handler that logs one line per
%% message (at info, the broker at info), or at debug (filtered: the
%% broker at info). Each row is the median of its repetitions; the rows of
%% one repetition run back to back, in turns, so that the machine's noise
%% spreads over all of them.
-module(exhook_bench_saturation).

-export([main/1, run/1]).

-define(DRIVER, bench).
-define(PORT_DRIVER, bench_port).
-define(ROUTES, exhook_bench_routes).

%% Callers: enough to keep every scheduler busy, as a broker's many
%% connection processes do.
-define(CALLERS, 64).
-define(SUBSCRIBERS, 8).
%% The broker-like work per message, in microseconds of CPU.
-define(WORK_US, 20).

profile(full) -> #{reps => 3, run_ms => 1500, warmup_ms => 300};
profile(smoke) -> #{reps => 1, run_ms => 300, warmup_ms => 100}.

%% The variants, in the order they are measured and shown: id, label, and
%% how the hook is reached (`none': no hook).
variants() ->
    [{none, <<"no hook (the broker's own work)">>},
     {erlang_side, <<"the plugin's Erlang side only (callback, driver lookup, metric; no handler)">>},
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
    ok = quiet_logger(),
    {ok, Samples} = file:consult(SamplesFile),
    {'message.publish', [Msg]} = lists:keyfind('message.publish', 1, Samples),
    Spin = calibrate(),
    Routes = routes(),
    Subs = [spawn_link(fun subscriber/0) || _ <- lists:seq(1, ?SUBSCRIBERS)],
    ok = start_plugin(Handler),
    io:format("~n== exhook bench: saturation, ~b callers, ~b us of broker work a message ==~n",
              [?CALLERS, ?WORK_US]),
    Ctx = #{msg => Msg, spin => Spin, routes => Routes, subs => list_to_tuple(Subs),
            profile => Profile},
    Reps = [[{Id, measure(Ctx, Id)} || {Id, _} <- variants()]
            || _ <- lists:seq(1, maps:get(reps, Profile))],
    Rows = [row(Id, Label, [proplists:get_value(Id, Rep) || Rep <- Reps], Reps)
            || {Id, Label} <- variants()],
    [io:format("  ~-90ts ~10.1f k msg/s  x~.2f~n", [L, R / 1000, X])
     || #{label := L, msgs_per_s := R, ratio := X} <- Rows],
    Facts = #{callers => ?CALLERS, work_us => ?WORK_US, schedulers => erlang:system_info(schedulers),
              reps => maps:get(reps, Profile), run_ms => maps:get(run_ms, Profile)},
    ok = file:write_file(Out, io_lib:format("~p.~n", [{bench_saturation, Facts, Rows}])),
    _ = application:stop(emqx_extension_hook),
    ok.

%% The median of a variant's repetitions and its ratio against the broker
%% alone, each repetition's ratio taken within that repetition.
row(Id, Label, Rates, Reps) ->
    Ratios = [proplists:get_value(Id, Rep) / proplists:get_value(none, Rep) || Rep <- Reps],
    #{id => Id, label => Label, msgs_per_s => median(Rates), ratio => median(Ratios),
      ratio_range => {lists:min(Ratios), lists:max(Ratios)}}.

median(L) ->
    S = lists:sort(L),
    lists:nth((length(S) + 1) div 2, S).

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
%% of CPU a message on this machine.
calibrate() ->
    Msg = {message, <<0:128>>, 1, <<"c">>, #{}, #{}, <<"p/1">>, <<"m1">>, 0},
    Ctx = #{routes => routes(), subs => {self()}, spin => 1000},
    {T, _} = timer:tc(fun() -> [broker_work(Msg, I, Ctx) || I <- lists:seq(1, 2000)] end),
    flush(),
    PerSpin = T / 2000 / 1000,
    max(1, round(?WORK_US / PerSpin)).

flush() ->
    receive _ -> flush() after 0 -> ok end.

%%====================================================================
%% Variants
%%====================================================================

start_plugin(Handler) ->
    ok = application:load(emqx_extension_hook),
    ok = application:set_env(emqx_extension_hook, drivers,
                             [{?DRIVER, driver_opts(Handler, inline)},
                              {?PORT_DRIVER, [{path, Handler}, {transport, port}, {pool_size, 2},
                                              {call_timeout, 5000}, {queue_capacity, 65536}]}]),
    {ok, _} = application:ensure_all_started(emqx_extension_hook),
    ok.

driver_opts(Handler, Mode) ->
    [{path, Handler}, {mode, Mode}, {call_timeout, 5000}, {pool_size, 2}, {queue_capacity, 65536}].

%% Sets the bench driver's mode (a reload: no call misses the hook).
use_mode(Mode) ->
    {ok, Drivers} = application:get_env(emqx_extension_hook, drivers),
    {?DRIVER, Opts} = lists:keyfind(?DRIVER, 1, Drivers),
    New = lists:keystore(mode, 1, Opts, {mode, Mode}),
    ok = application:set_env(emqx_extension_hook, drivers,
                             lists:keystore(?DRIVER, 1, Drivers, {?DRIVER, New})),
    ok = emqx_extension_hook:reload(?DRIVER).

%% The callback a variant calls per message, and the message's topic.
setup(none) -> {none, <<"p/1">>};
setup(erlang_side) ->
    %% A hook the handler does not implement: the callback finds the
    %% driver, counts the metric and answers `ok' without a NIF call.
    {{emqx_extension_hook_callbacks, on_session_created, [key(?DRIVER)]}, <<"p/1">>};
setup(port) -> {callback(?PORT_DRIVER), <<"p/1">>};
setup(Id) ->
    {Mode, Topic} = case Id of
                        inline -> {inline, <<"p/1">>};
                        pool -> {pool, <<"p/1">>};
                        inline_log_info -> {inline, <<"log/info/1">>};
                        inline_log_debug -> {inline, <<"log/debug/1">>}
                    end,
    use_mode(Mode),
    {callback(?DRIVER), Topic}.

key(Driver) -> emqx_extension_hook_handler:key(atom_to_binary(Driver, utf8)).

callback(Driver) ->
    {ok, Callbacks} = emqx_extension_hook:callbacks(Driver),
    {_, MFA} = lists:keyfind('message.publish', 1, Callbacks),
    MFA.

%% Messages per second the callers manage with variant `Id'.
measure(#{msg := Msg0, profile := P} = Ctx, Id) ->
    {Callback, Topic} = setup(Id),
    Msg = setelement(7, Msg0, Topic),
    Count = atomics:new(1, []),
    Run = fun(Ms, Counting) ->
                  Until = erlang:monotonic_time(millisecond) + Ms,
                  Parent = self(),
                  Pids = [spawn_link(fun() -> caller(C, Msg, Callback, Ctx, Until, Count, Counting),
                                              Parent ! {done, self()} end)
                          || C <- lists:seq(1, ?CALLERS)],
                  [receive {done, Pid} -> ok end || Pid <- Pids]
          end,
    Run(maps:get(warmup_ms, P), false),
    T0 = erlang:monotonic_time(microsecond),
    Run(maps:get(run_ms, P), true),
    Elapsed = erlang:monotonic_time(microsecond) - T0,
    atomics:get(Count, 1) / (Elapsed / 1.0e6).

caller(C, Msg0, Callback, Ctx, Until, Count, Counting) ->
    Msg = setelement(4, Msg0, <<"sat-", (integer_to_binary(C))/binary>>),
    caller_loop(C, Msg, Callback, Ctx, Until, Count, Counting, 0).

caller_loop(C, Msg, Callback, Ctx, Until, Count, Counting, N) ->
    case N rem 16 =:= 0 andalso erlang:monotonic_time(millisecond) >= Until of
        true ->
            Counting andalso atomics:add(Count, 1, N),
            ok;
        false ->
            broker_work(Msg, C + N, Ctx),
            hook(Callback, Msg),
            caller_loop(C, Msg, Callback, Ctx, Until, Count, Counting, N + 1)
    end.

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

%% The handlers' log lines go to a file, as EMQX's emqx.log; nothing else
%% is logged.
quiet_logger() ->
    ok = logger:set_primary_config(level, info),
    ok = logger:remove_handler(default),
    File = filename:join(tmp_dir(), "exhook_bench_saturation_" ++ os:getpid() ++ ".log"),
    ok = logger:add_handler(bench_file, logger_std_h,
                            #{config => #{file => File}, filter_default => stop,
                              filters => [{handlers, {fun logger_filters:domain/2,
                                                      {log, sub, [emqx_extension_hook, handler]}}}]}),
    ok.

tmp_dir() ->
    case os:getenv("TMPDIR") of
        false -> "/tmp";
        "" -> "/tmp";
        D -> D
    end.
