%% @doc The notification path alone, A/B: `client.connected' cast through
%% two or more builds of the bench handler library in one VM, each its own
%% driver, measured in alternating rounds (so that every build sees the
%% same minutes of a shared, noisy machine). Per build and round:
%%
%% - b2b: 1 and 64 callers cast `Events' in all as fast as they can; the
%%   caller's p50 (one call in 8 timed), the rate through the handler
%%   (succeeded events over the time from the first cast until the
%%   driver's counters show them all handled) and the VM's CPU per event
%%   over that time;
%% - sparse: 1 and 64 callers, one cast per millisecond each, for 300 ms:
%%   the caller's p50.
%%
%% `erl -noshell -pa bench/_build/ebin -pa _build/default/lib/emqx_extension_hook/ebin
%%    -run exhook_notify_bench main Samples Events Rounds Label=Lib ...'
%%
%% `loop' instead of `main' (`... loop Samples Lib Callers Seconds') casts
%% from `Callers' processes for `Seconds', for `perf record' to watch.
-module(exhook_notify_bench).

-export([main/1, loop/1]).

-define(STRIDE, 8).
-define(SPARSE_MS, 300).

%% @doc A/B rounds; prints one line per build and case, then the medians.
-spec main([string()]) -> no_return().
main([Samples, Events, Rounds | Libs]) ->
    run(fun() -> ab(Samples, list_to_integer(Events), list_to_integer(Rounds), Libs) end).

%% @doc Casts for `perf': bursts of 100 000 (back to back), or with
%% `sparse' one per millisecond per caller.
-spec loop([string()]) -> no_return().
loop([Samples, Lib, Callers, Seconds]) ->
    loop([Samples, Lib, Callers, Seconds, "b2b"]);
loop([Samples, Lib, Callers, Seconds, Variant]) ->
    run(fun() ->
                Args = start(Samples, [{a, Lib}]),
                {M, F, X} = callback(a),
                Until = erlang:monotonic_time(millisecond) + 1000 * list_to_integer(Seconds),
                N = list_to_integer(Callers),
                Total = case Variant of
                            "b2b" -> loop_until(M, F, X, Args, N, Until, 0);
                            "sparse" -> sparse_until(M, F, X, Args, N, Until, 0)
                        end,
                io:format("~b events~n", [Total])
        end).

sparse_until(M, F, X, Args, N, Until, Total) ->
    case erlang:monotonic_time(millisecond) >= Until of
        true -> Total;
        false ->
            #{n := C} = sparse(M, F, X, Args, N),
            sparse_until(M, F, X, Args, N, Until, Total + C)
    end.

run(Fun) ->
    Code = try Fun(), 0
           catch C:R:S -> io:format(standard_error, "~p:~p~n~p~n", [C, R, S]), 1
           end,
    erlang:halt(Code).

start(SamplesFile, Builds) ->
    ok = logger:set_primary_config(level, error),
    {ok, SampleList} = file:consult(SamplesFile),
    [ConnCI, ConnInfo] = proplists:get_value('client.connected', SampleList),
    ok = application:load(emqx_extension_hook),
    Drivers = [{Name, [{path, Lib}, {mode, pool}, {call_timeout, 5000}, {pool_size, 2},
                       {queue_capacity, 131072}]}
               || {Name, Lib} <- Builds],
    ok = application:set_env(emqx_extension_hook, drivers, Drivers),
    {ok, _} = application:ensure_all_started(emqx_extension_hook),
    fun(I) ->
            Cid = <<"bench-client-", (integer_to_binary(I))/binary>>,
            [ConnCI#{clientid => Cid}, ConnInfo#{clientid => Cid}]
    end.

callback(Name) ->
    {ok, Callbacks} = emqx_extension_hook:callbacks(Name),
    proplists:get_value('client.connected', Callbacks).

loop_until(M, F, X, Args, N, Until, Total) ->
    case erlang:monotonic_time(millisecond) >= Until of
        true -> Total;
        false ->
            #{calls := C} = burst(a, M, F, X, Args, N, 100000),
            loop_until(M, F, X, Args, N, Until, Total + C)
    end.

ab(Samples, Events, Rounds, Specs) ->
    Builds = [begin [L, P] = string:split(S, "="), {list_to_atom(L), P} end || S <- Specs],
    Args = start(Samples, Builds),
    Names = [N || {N, _} <- Builds],
    Cases = [{b2b, 1}, {b2b, 64}, {sparse, 1}, {sparse, 64}],
    %% A warm-up round, not kept.
    _ = [measure(N, C, Args, Events div 4) || N <- Names, C <- Cases],
    Rows = lists:append(
             [begin
                  Order = case R rem 2 of 0 -> Names; 1 -> lists:reverse(Names) end,
                  [begin
                       Row = measure(N, C, Args, Events),
                       print(R, N, C, Row),
                       {R, N, C, Row}
                   end || C <- Cases, N <- Order]
              end || R <- lists:seq(1, Rounds)]),
    Indexed = Rows,
    io:format("~nmedians over ~b rounds~n", [Rounds]),
    [begin
         Rs = [Row || {_, N1, C1, Row} <- Rows, N1 =:= N, C1 =:= C],
         Med = maps:from_list([{K, median([maps:get(K, Row) || Row <- Rs])} || K <- maps:keys(hd(Rs))]),
         print(median, N, C, Med)
     end || C <- Cases, N <- Names],
    [Base | Others] = Names,
    io:format("~nper-round ratios against ~s, median (range) over ~b rounds~n", [Base, Rounds]),
    [begin
         Pairs = [{maps:get(R, By(N)), maps:get(R, By(Base))} || R <- lists:seq(1, Rounds)],
         Ratio = fun(K) ->
                         Rs = [maps:get(K, A) / max(1.0e-9, maps:get(K, B)) || {A, B} <- Pairs],
                         io_lib:format("~s x~.2f (~.2f-~.2f)", [K, median(Rs), lists:min(Rs), lists:max(Rs)])
                 end,
         Keys = [K || K <- [p50, sustained, cpu_us], maps:is_key(K, element(1, hd(Pairs)))],
         io:format("~-10s ~-6s ~2b callers: ~s~n", [N, element(1, C), element(2, C),
                                                   lists:join("  ", [Ratio(K) || K <- Keys])])
     end || C <- Cases, N <- Others,
            By <- [fun(Name) -> maps:from_list([{R, Row} || {R, N1, C1, Row} <- Indexed, N1 =:= Name, C1 =:= C]) end]],
    ok.

measure(Name, {b2b, N}, Args, Events) ->
    {M, F, X} = callback(Name),
    burst(Name, M, F, X, Args, N, Events);
measure(Name, {sparse, N}, Args, _Events) ->
    {M, F, X} = callback(Name),
    sparse(M, F, X, Args, N).

print(Round, Name, {Variant, N}, Row) ->
    Extra = case Row of
                #{sustained := S, cpu_us := Cpu, dropped := D} ->
                    io_lib:format("  sustained ~9b/s  cpu ~5.2f us/event  dropped ~b", [round(S), Cpu, round(D)]);
                _ -> ""
            end,
    io:format("~-6w ~-10s ~-6s ~2b callers: caller p50 ~6.2f us  p99 ~7.2f us~s~n",
              [Round, Name, Variant, N, maps:get(p50, Row), maps:get(p99, Row), Extra]).

%% N callers cast Events in all; then wait for the driver to settle them.
burst(Name, M, F, X, Args, N, Events) ->
    Parent = self(),
    Quota = max(1, Events div N),
    Before = hook_stats(Name),
    Pids = [spawn_opt(fun() ->
                              A = Args(I) ++ X,
                              Parent ! {ready, self()},
                              receive go -> ok end,
                              Parent ! {done, self(), counted(M, F, A, Quota, [])}
                      end, [link, {min_heap_size, 4096}])
            || I <- lists:seq(1, N)],
    [receive {ready, P} -> ok end || P <- Pids],
    Cpu0 = exhook_bench:cpu_snapshot([]),
    T0 = erlang:monotonic_time(nanosecond),
    [P ! go || P <- Pids],
    Samples = lists:append([receive {done, P, S} -> S end || P <- Pids]),
    Calls = Quota * N,
    After = wait_settled(Name, settled(Before) + Calls, erlang:monotonic_time(millisecond) + 60000),
    T2 = erlang:monotonic_time(nanosecond),
    {CpuUs, 0} = exhook_bench:cpu_delta(Cpu0, exhook_bench:cpu_snapshot([])),
    Succeeded = maps:get(succeeded, After) - maps:get(succeeded, Before),
    (quantiles(Samples))#{calls => Calls, sustained => Succeeded / ((T2 - T0) / 1.0e9),
                          cpu_us => CpuUs / Calls,
                          dropped => maps:get(dropped, After) - maps:get(dropped, Before)}.

counted(_M, _F, _A, Left, Acc) when Left =< 0 -> Acc;
counted(M, F, A, Left, Acc) ->
    T0 = erlang:monotonic_time(nanosecond),
    _ = erlang:apply(M, F, A),
    T1 = erlang:monotonic_time(nanosecond),
    untimed(M, F, A, min(?STRIDE, Left) - 1),
    counted(M, F, A, Left - ?STRIDE, [T1 - T0 | Acc]).

untimed(_M, _F, _A, K) when K =< 0 -> ok;
untimed(M, F, A, K) -> _ = erlang:apply(M, F, A), untimed(M, F, A, K - 1).

sparse(M, F, X, Args, N) ->
    Parent = self(),
    Pids = [spawn_opt(fun() ->
                              A = Args(I) ++ X,
                              Parent ! {ready, self()},
                              receive {go, Until} -> ok end,
                              Parent ! {done, self(), every_ms(M, F, A, Until, [])}
                      end, [link, {min_heap_size, 4096}])
            || I <- lists:seq(1, N)],
    [receive {ready, P} -> ok end || P <- Pids],
    Until = erlang:monotonic_time(millisecond) + ?SPARSE_MS,
    [P ! {go, Until} || P <- Pids],
    Samples = lists:append([receive {done, P, S} -> S end || P <- Pids]),
    %% Let the workers finish before the next case.
    receive after 20 -> ok end,
    quantiles(Samples).

every_ms(M, F, A, Until, Acc) ->
    case erlang:monotonic_time(millisecond) >= Until of
        true -> Acc;
        false ->
            T0 = erlang:monotonic_time(nanosecond),
            _ = erlang:apply(M, F, A),
            T1 = erlang:monotonic_time(nanosecond),
            receive after 1 -> ok end,
            every_ms(M, F, A, Until, [T1 - T0 | Acc])
    end.

quantiles([]) -> #{p50 => 0.0, p99 => 0.0, n => 0};
quantiles(Samples) ->
    S = list_to_tuple(lists:sort(Samples)),
    Q = fun(P) -> element(max(1, round(P * tuple_size(S))), S) / 1000 end,
    #{p50 => Q(0.5), p99 => Q(0.99), n => tuple_size(S)}.

median(Xs) ->
    S = lists:sort(Xs),
    lists:nth((length(S) + 1) div 2, S).

settled(#{succeeded := S, dropped := D, failed := F}) -> S + D + F.

wait_settled(Name, Target, Until) ->
    Stats = hook_stats(Name),
    case settled(Stats) >= Target orelse erlang:monotonic_time(millisecond) > Until of
        true -> Stats;
        false -> receive after 1 -> ok end, wait_settled(Name, Target, Until)
    end.

hook_stats(Name) ->
    Bin = atom_to_binary(Name),
    [Hooks] = [Hs || #{name := N, hooks := Hs} <- emqx_extension_hook:stats(), N =:= Bin],
    proplists:get_value('client.connected', Hooks).
