%% @doc The report of one `make bench' (or `make bench-smoke', `make
%% bench-java'): reads the rows each VM run of `exhook_bench' wrote, the
%% saturated broker's (`exhook_bench_saturation') and the two database
%% benchmarks' output, prints the tables, writes them as Markdown with the
%% machine facts, the command and the goals of issues 5, 8, 10, 12 and 13,
%% and draws the SVG chart.
%%
%% Every ratio is computed within one VM run: each row against the
%% pure-Erlang floor and against the Port transport of the same hook,
%% variant and number of callers in that run; a saturated variant against
%% the broker alone in the same round of slices.
-module(exhook_bench_report).

-export([main/1, report/4]).

%% The goal of issue 5: every NIF mode at least this many times the Port
%% transport's calls/s.
-define(PORT_GOAL, 20).
%% The goal of issue 8: Python in the VM at least this many times the
%% Python Port transport's calls/s.
-define(PYTHON_PORT_GOAL, 8).
%% The bench's Python Port driver's OS processes (exhook_bench's pool_size).
-define(PYTHON_PORT_PROCESSES, 2).

%% @doc `erl -run exhook_bench_report main OutPrefix Command ElapsedSecs File...': each
%% file an `exhook_bench' run (`{bench_run, ...}'), the saturation run
%% (`{bench_saturation, ...}'), the database benchmark's output (`.txt'),
%% or the Python database example's (`-pydb.txt').
-spec main([string()]) -> no_return().
main([Prefix, Command, Elapsed | Files]) ->
    Code = try report(Prefix, Command, list_to_integer(Elapsed), Files), 0
           catch C:R:S ->
                   io:format(standard_error, "report failed: ~p:~p~n~p~n", [C, R, S]),
                   1
           end,
    erlang:halt(Code).

%% @doc Prints the tables and the goals; writes Prefix.md and Prefix.svg.
-spec report(string(), string(), non_neg_integer(), [file:filename()]) -> ok.
report(Prefix, Command, Elapsed, Files) ->
    ok = io:setopts(standard_io, [{encoding, unicode}]),
    #{runs := Runs} = Data = load(Files),
    Sections = sections(Runs),
    Tables = goal_tables(Data),
    print(Data, Sections, Tables, Elapsed),
    Svg = filename:basename(Prefix) ++ ".svg",
    ok = file:write_file(Prefix ++ ".md", markdown(Data, Sections, Tables, Command, Elapsed, Svg)),
    ok = file:write_file(Prefix ++ ".svg", svg(Runs)),
    io:format("~nwrote ~ts.md and ~ts.svg~n", [Prefix, Prefix]),
    ok.

%% #{runs := [{Facts, Rows}], saturation => {Facts, Rows}, database => Text,
%% pydb => Text}.
load(Files) ->
    lists:foldl(
      fun(File, Acc) ->
              case filename:extension(File) of
                  ".txt" ->
                      {ok, Text} = file:read_file(File),
                      case lists:suffix("-pydb.txt", File) of
                          true -> Acc#{pydb => Text};
                          false -> Acc#{database => Text}
                      end;
                  _ ->
                      case file:consult(File) of
                          {ok, [{bench_run, F, R}]} -> Acc#{runs => maps:get(runs, Acc) ++ [{F, R}]};
                          {ok, [{bench_saturation, F, R}]} -> Acc#{saturation => {F, R}}
                      end
              end
      end, #{runs => []}, Files).

%% [{Title, Intro, Header, [Cells]}]: every goal table. A table with no
%% goal measured (a profile that runs part of the cases) is left out.
goal_tables(#{runs := Runs} = Data) ->
    Sat = maps:get(saturation, Data, undefined),
    Four = ["goal", "target", "measured", "verdict"],
    Tables = [{"Goals (issues 5 and 12: the hook path)",
               "Measured in the default VM run; the last column is the run with busy-waiting off "
               "(client.check_acl is measured in the default VM run only).",
               Four ++ ["busy-wait off"], [[G, T, M, V, O] || {G, T, M, V, O} <- goals(Runs)]},
              {"Goals (issue 8: Python handlers)", "Measured in the default VM run.",
               Four, [[G, T, M, V] || {G, T, M, V} <- python_goals(Runs)]},
              {"Goals (issue 12: a saturated broker, a wide ClientInfo)",
               "The saturated broker is its own VM run (default flags) of this `make bench`; see its "
               "section below. The other rows are the default VM run's.",
               Four, [[G, T, M, V] || {G, T, M, V} <- saturation_goals(Runs, Sat)]},
              {"Goals (issue 13: handlers' logging)",
               "Costs at the caller from the default VM run (the broker's level at info around those "
               "cases); messages/s from the saturated broker's run.",
               Four, [[G, T, M, V] || {G, T, M, V} <- logging_goals(Runs, Sat)]},
              {"Goals (issue 10: Java handlers)",
               "Measured in the default VM run: a java driver (one JVM, bench/java/BenchHandler.java) "
               "against the Rust handler behind the Port launcher (the Port rows).",
               Four, [[G, T, M, V] || {G, T, M, V} <- java_goals(Runs)]}],
    [T || T = {_, _, _, Rows} <- Tables,
          lists:any(fun([_, _, _, V | _]) -> text(V) =/= "not measured" end, Rows)].

text(IoData) -> lists:flatten(io_lib:format("~ts", [IoData])).

%%====================================================================
%% Table rows
%%====================================================================

-define(HEADER, ["hook", "transport", "procs", "calls/s", "p50 µs", "p99 µs", "CPU µs/call",
                 "vs Erlang floor", "vs Port", "notes"]).

%% [{Title, Intro, [Cells]}] per VM run and variant.
sections(Runs) ->
    [{title(Facts, V), intro(V), [cells(Row, Rows) || Row <- display_rows(Rows, V)]}
     || {Facts, Rows} <- Runs, V <- [b2b, sparse],
        lists:any(fun(#{variant := V1}) -> V1 =:= V end, Rows)].

title(#{vm := Vm, vm_flags := Flags}, V) ->
    io_lib:format("~ts, ~ts VM (~ts)", [variant_name(V), Vm, Flags]).

variant_name(b2b) -> "Back to back";
variant_name(sparse) -> "Sparse (one call per millisecond per caller)".

intro(b2b) ->
    "Each caller calls again as soon as a call returns. vs Erlang floor: this row's calls/s "
    "divided by the pure-Erlang floor's; vs Port: this row's calls/s divided by the Port "
    "transport's (same hook, same callers, same VM run; for client.connected at the caller, "
    "casts per second; through the handler, events handled per second). Port rows count "
    "only the calls the handler answered: calls the driver refused (port busy) are in the "
    "notes, not in calls/s or latency. Port CPU includes the handler's OS processes.";
intro(sparse) ->
    "Each caller makes one call per millisecond and sleeps in between, so schedulers and "
    "worker threads go idle. calls/s is the offered rate (a Port row's is what it kept up "
    "with). vs Erlang floor: this row's p50 minus the pure-Erlang floor's. vs Port: the "
    "Port transport's p50 divided by this row's (÷N: N times lower), and this row's p50 "
    "minus the Port's. CPU per call includes the idle VM's own wake-ups.".

%% The rows of variant V; the port rows collapse to one per hook, the
%% notification burst adds a row for the rate through the handler.
display_rows(Rows, V) ->
    Mine = [R || R = #{variant := V1} <- Rows, V1 =:= V],
    lists:append(
      [case R of
           #{skip := _, procs := 1} -> [R#{procs => all}];
           #{skip := _} -> [];
           #{sustained_per_s := _} -> [R, R#{sustained => true}];
           _ -> [R]
       end || R <- Mine]).

cells(#{skip := Why} = R, _Rows) ->
    [label(hook_label, R), transport_label(R), "1/8/64", "n/a", "n/a", "n/a", "n/a", "n/a", na(Why), ""];
cells(#{sustained := true, transport := T} = R, Rows) when T =:= port; T =:= java ->
    {Through, VsPort} = case T of
                            port -> {"→ through the handler (Port)", "1 (Port)"};
                            java -> {"→ through the handler (Java)", vs_port_sustained(R, Rows)}
                        end,
    [label(hook_label, R), Through, integer_to_list(maps:get(procs, R)),
     rate(maps:get(sustained_per_s, R)), "—", "—", us(maps:get(cpu_us, R)), "—", VsPort,
     io_lib:format("~ts of ~ts events handled, the last ~.2f s after the first (counted by the "
                   "handler processes, read with a probe); ~ts dropped at the caller (port busy: "
                   "never sent); ~b sent and not handled",
                   [rate(maps:get(handled, R)), rate(maps:get(calls, R)), maps:get(drain_secs, R),
                    pct_of(maps:get(dropped, R), maps:get(calls, R)), round(maps:get(lost, R))])];
cells(#{sustained := true} = R, Rows) ->
    Through = case R of
                  #{transport := cast} -> "→ through the handler";
                  _ -> "→ through the handler (" ++ label(transport_label, R) ++ ")"
              end,
    [label(hook_label, R), Through, integer_to_list(maps:get(procs, R)),
     rate(maps:get(sustained_per_s, R)), "—", "—", us(maps:get(cpu_us, R)), "—",
     vs_port_sustained(R, Rows),
     io_lib:format("~ts events handled ~.2f s after the first; dropped ~b",
                   [rate(maps:get(calls, R)), maps:get(drain_secs, R), round(maps:get(dropped, R))])];
cells(R, Rows) ->
    [label(hook_label, R), transport_label(R), integer_to_list(maps:get(procs, R)),
     rate(maps:get(calls_per_s, R)), us(maps:get(p50_us, R)), us(maps:get(p99_us, R)),
     us(maps:get(cpu_us, R)), vs_floor(R, Rows), vs_port(R, Rows), notes(R, Rows)].

label(K, R) -> binary_to_list(maps:get(K, R)).

transport_label(#{transport := cast} = R) -> label(transport_label, R) ++ " (caller)";
transport_label(#{transport := T, hook := connected} = R) when T =:= port; T =:= java ->
    label(transport_label, R) ++ " (caller)";
transport_label(#{transport := T, hook := connected} = R) when T =:= py_custom; T =:= py_minimal ->
    label(transport_label, R) ++ " (caller)";
transport_label(R) -> label(transport_label, R).

na(Why) -> binary_to_list(Why).

notes(R, Rows) ->
    lists:join("; ", [N || N <- [kind_note(R), beside_note(R, Rows), port_note(R), python_note(R),
                                 spread_note(R)],
                           N =/= ""]).

%% A row measured beside the slow neighbour, against the same callers alone.
beside_note(#{neighbour_calls := Calls} = R, Rows) ->
    Alone = case alone_of(R, Rows) of
                {ok, A} -> io_lib:format("; the same callers alone: p50 ~ts µs, p99 ~ts µs (p99 here ×~ts)",
                                         [us(maps:get(p50_us, A)), us(maps:get(p99_us, A)),
                                          ratio(maps:get(p99_us, R) / maps:get(p99_us, A))]);
                none -> ""
            end,
    io_lib:format("beside one more caller whose every login takes 100 ms in the handler (~b of them "
                  "meanwhile)~ts", [round(Calls), Alone]);
beside_note(_R, _Rows) -> "".

%% The row of the same transport, variant, callers and VM run without the neighbour.
alone_of(#{hook := auth_beside_slow} = R, Rows) ->
    case [A || A = #{vm := Vm, hook := auth, transport := T, variant := V, procs := N} <- Rows,
               Vm =:= maps:get(vm, R), T =:= maps:get(transport, R), V =:= maps:get(variant, R),
               N =:= maps:get(procs, R), not is_map_key(skip, A)] of
        [A] -> {ok, A};
        [] -> none
    end;
alone_of(_R, _Rows) -> none.

%% A python3 driver's row: calls the failure policy answered instead of
%% the handler (not counted), and the handler processes' CPU on the Port.
python_note(#{transport := T} = R) when T =:= py_custom; T =:= py_minimal; T =:= py_port ->
    Refused = [io_lib:format("~ts of the answers were not the handler's (refused, failed or timed out: "
                             "the failure policy), not counted", [pct_of(Ref, Ref + maps:get(calls, R))])
               || #{refused := Ref} <- [R], Ref > 0],
    Cpu = [io_lib:format("handler processes: ~ts µs of the CPU", [us(PC)]) || #{port_cpu_us := PC} <- [R]],
    lists:join("; ", Cpu ++ Refused);
python_note(_) -> "".

kind_note(#{sustained_per_s := _, transport := T} = R) when T =:= port; T =:= java ->
    io_lib:format("caller rate and latency (dropped casts included); CPU until the last probe "
                  "answered (~.2f s)", [maps:get(drain_secs, R)]);
kind_note(#{sustained_per_s := _} = R) ->
    io_lib:format("caller rate and latency; CPU until every event was handled (~.2f s)",
                  [maps:get(drain_secs, R)]);
kind_note(#{transport := erlang}) -> "floor";
kind_note(#{transport := empty_nif}) -> "floor: a hook callback calling a NIF that returns ok";
kind_note(_) -> "".

%% What the port driver refused or lost in this row (medians of the
%% repetitions), and a sparse rate the Port did not keep up with.
port_note(#{transport := T} = R) when T =:= port; T =:= java ->
    Refused = case R of
                  #{refused := Ref} when Ref > 0 ->
                      [io_lib:format("~ts of the calls refused (port busy: the broker got failed_action "
                                     "deny), not counted", [pct_of(Ref, Ref + maps:get(calls, R))])];
                  #{sustained_per_s := _, dropped := D} when D > 0 ->
                      [io_lib:format("~ts of the casts dropped at the caller (port busy)",
                                     [pct_of(D, maps:get(calls, R))])];
                  #{variant := sparse, hook := connected, dropped := D} when D > 0 ->
                      [io_lib:format("~ts of the casts dropped at the caller (port busy)",
                                     [pct_of(D, maps:get(calls, R))])];
                  _ -> []
              end,
    Failed = [io_lib:format("~ts ~b", [K, round(V)]) || K <- [failed, timed_out, restarts],
                                                      V <- [maps:get(K, R, 0)], V > 0],
    Cpu = [io_lib:format("handler processes: ~ts µs of the CPU", [us(PC)]) || #{port_cpu_us := PC} <- [R]],
    Behind = case R of
                 #{variant := sparse, procs := N, calls_per_s := Rate} when Rate < 0.9 * 1000 * N ->
                     [io_lib:format("kept up with ~ts of the offered ~ts calls/s",
                                    [pct_of(Rate, 1000 * N), rate(1000 * N)])];
                 _ -> []
             end,
    lists:join("; ", Cpu ++ Refused ++ Failed ++ Behind);
port_note(_) -> "".

pct_of(_Part, Whole) when Whole == 0 -> "0 %";
pct_of(Part, Whole) ->
    case Part / Whole * 100 of
        P when P > 0, P < 0.1 -> "<0.1 %";
        P when P < 10 -> io_lib:format("~.1f %", [P]);
        P -> io_lib:format("~b %", [round(P)])
    end.

%% The repetitions disagree by more than 1.5×: show their range.
spread_note(#{range := Range, reps := Reps}) when Reps > 1 ->
    Wide = fun(K) ->
                   case maps:find(K, Range) of
                       {ok, {Lo, Hi}} when Lo > 0, Hi / Lo > 1.5 -> {ok, Lo, Hi};
                       _ -> no
                   end
           end,
    Parts = [io_lib:format("calls/s ~ts–~ts", [rate(Lo), rate(Hi)]) || {ok, Lo, Hi} <- [Wide(calls_per_s)]]
        ++ [io_lib:format("p50 ~ts–~ts µs", [us(Lo), us(Hi)]) || {ok, Lo, Hi} <- [Wide(p50_us)]],
    case Parts of
        [] -> "";
        _ -> [lists:join(", ", Parts), io_lib:format(" across the ~b runs", [Reps])]
    end;
spread_note(_) -> "".

%% The row measured over `Transport' for the same hook, variant, callers
%% and VM run as `R'.
same_case(Transport, #{vm := Vm, hook := H, variant := V, procs := N}, Rows) ->
    case [B || B = #{vm := Vm1, hook := H1, variant := V1, procs := N1, transport := T} <- Rows,
               T =:= Transport, Vm1 =:= Vm, H1 =:= H, V1 =:= V, N1 =:= N,
               not is_map_key(skip, B)] of
        [B] -> {ok, B};
        [] -> none
    end.

floor_of(R, Rows) -> same_case(erlang, R, Rows).

vs_floor(#{transport := erlang}, _Rows) -> "1 (floor)";
vs_floor(#{variant := b2b} = R, Rows) ->
    case floor_of(R, Rows) of
        {ok, F} -> io_lib:format("×~ts calls/s", [ratio(maps:get(calls_per_s, R) / maps:get(calls_per_s, F))]);
        none -> "—"
    end;
vs_floor(#{variant := sparse} = R, Rows) ->
    case floor_of(R, Rows) of
        {ok, F} -> io_lib:format("p50 ~ts µs", [signed(maps:get(p50_us, R) - maps:get(p50_us, F))]);
        none -> "—"
    end.

%% Back to back: this row's calls/s divided by the Port row's; sparse: the
%% Port's p50 divided by this row's, and the difference (same hook,
%% variant, callers, VM run). The CustomHook's Port is the same CustomHook
%% on the Port transport; the minimal Python handler has none.
port_of(#{transport := py_custom} = R, Rows) -> same_case(py_port, R, Rows);
port_of(#{transport := py_minimal}, _Rows) -> none;
port_of(R, Rows) -> same_case(port, R, Rows).

vs_port(#{transport := port}, _Rows) -> "1 (Port)";
vs_port(#{transport := py_port}, _Rows) -> "1 (Python Port)";
vs_port(#{variant := b2b} = R, Rows) ->
    case port_of(R, Rows) of
        {ok, P} -> io_lib:format("×~ts calls/s", [ratio(maps:get(calls_per_s, R) / maps:get(calls_per_s, P))]);
        none -> "—"
    end;
vs_port(#{variant := sparse} = R, Rows) ->
    case port_of(R, Rows) of
        {ok, P} ->
            Mine = maps:get(p50_us, R),
            Port = maps:get(p50_us, P),
            io_lib:format("p50 ÷~ts (~ts µs)", [ratio(Port / Mine), signed(Mine - Port)]);
        none -> "—"
    end.

vs_port_sustained(R, Rows) ->
    case port_of(R, Rows) of
        {ok, #{sustained_per_s := PS}} when PS > 0 ->
            io_lib:format("×~ts events/s", [ratio(maps:get(sustained_per_s, R) / PS)]);
        _ -> "—"
    end.

%%====================================================================
%% Goals (issue 5), from the default VM run; the other run for comparison
%%====================================================================

find(Rows, H, T, V, N) ->
    case [R || R = #{hook := H1, transport := T1, variant := V1, procs := N1} <- Rows,
               H1 =:= H, T1 =:= T, V1 =:= V, N1 =:= N, not is_map_key(skip, R)] of
        [R] -> {ok, R};
        [] -> none
    end.

get(Rows, H, T, V, N, K) ->
    case find(Rows, H, T, V, N) of
        {ok, R} -> maps:get(K, R, undefined);
        none -> undefined
    end.

%% [{Goal, Target, Measured, Verdict, BusyWaitOff}]
goals(Runs) ->
    Default = rows_of(default, Runs),
    Off = rows_of(sbwt_none, Runs),
    Pub = fun(Rows, T, K) ->
                  case {get(Rows, publish_64, T, b2b, 1, K), get(Rows, publish_1m, T, b2b, 1, K)} of
                      {A, B} when is_number(A), is_number(B), A > 0 -> B / A;
                      _ -> undefined
                  end
          end,
    BestSustained = fun(Rows) ->
                            case [{get(Rows, connected, cast, b2b, N, sustained_per_s), N} || N <- [1, 8, 64]] of
                                L -> case [X || X = {S, _} <- L, is_number(S)] of
                                         [] -> undefined;
                                         Xs -> lists:max(Xs)
                                     end
                            end
                    end,
    %% Baselines of the same run: the pure-Erlang floor for the inline
    %% path, the Port transport (what the pool replaces) for the others.
    Floor = fun(Rows, H, V, N, K) -> {"the pure-Erlang floor's", get(Rows, H, erlang, V, N, K)} end,
    Port = fun(Rows, H, V, N, K) -> {"the Port's", get(Rows, H, port, V, N, K)} end,
    [le("inline client.authenticate p50, 1 caller, back to back", 0.5, "µs",
        get(Default, auth, inline, b2b, 1, p50_us), get(Off, auth, inline, b2b, 1, p50_us),
        Floor(Default, auth, b2b, 1, p50_us)),
     ge("inline client.authenticate calls/s, 1 caller", 1.5e6, "calls/s",
        get(Default, auth, inline, b2b, 1, calls_per_s), get(Off, auth, inline, b2b, 1, calls_per_s),
        Floor(Default, auth, b2b, 1, calls_per_s)),
     le("inline client.check_acl p50, 1 caller, back to back", 0.5, "µs",
        get(Default, acl, inline, b2b, 1, p50_us), undefined, Floor(Default, acl, b2b, 1, p50_us)),
     ge("inline client.check_acl calls/s, 1 caller", 1.5e6, "calls/s",
        get(Default, acl, inline, b2b, 1, calls_per_s), undefined, Floor(Default, acl, b2b, 1, calls_per_s)),
     le("pool client.authenticate p50, 1 caller, back to back", 5.0, "µs",
        get(Default, auth, pool, b2b, 1, p50_us), get(Off, auth, pool, b2b, 1, p50_us),
        Port(Default, auth, b2b, 1, p50_us)),
     le("pool client.authenticate p50, 1 caller, sparse", 10.0, "µs",
        get(Default, auth, pool, sparse, 1, p50_us), get(Off, auth, pool, sparse, 1, p50_us),
        Port(Default, auth, sparse, 1, p50_us)),
     based(le_off("pool client.authenticate p50, 1 caller, sparse, busy-waiting off", 15.0, "µs",
                  get(Off, auth, pool, sparse, 1, p50_us)),
           get(Off, auth, pool, sparse, 1, p50_us), Port(Off, auth, sparse, 1, p50_us), "µs"),
     le("pool client.authenticate p50, 64 callers, sparse", 20.0, "µs",
        get(Default, auth, pool, sparse, 64, p50_us), get(Off, auth, pool, sparse, 64, p50_us),
        Port(Default, auth, sparse, 64, p50_us)),
     beside_goal(b2b, Default, Off),
     beside_goal(sparse, Default, Off),
     idle_goal(Runs),
     le("client.connected enqueue at the caller p50, 1 caller, back to back", 1.0, "µs",
        get(Default, connected, cast, b2b, 1, p50_us), get(Off, connected, cast, b2b, 1, p50_us),
        Port(Default, connected, b2b, 1, p50_us)),
     le("client.connected enqueue at the caller p50, 1 caller, sparse", 1.0, "µs",
        get(Default, connected, cast, sparse, 1, p50_us), get(Off, connected, cast, sparse, 1, p50_us),
        Port(Default, connected, sparse, 1, p50_us)),
     sustained(BestSustained(Default), BestSustained(Off), Default),
     flat("message.publish p50 flat, inline, 1 MiB vs 64 B (1 caller)",
          Pub(Default, inline, p50_us), Pub(Off, inline, p50_us)),
     flat("message.publish p50 flat, pool, 1 MiB vs 64 B (1 caller)",
          Pub(Default, pool, p50_us), Pub(Off, pool, p50_us)),
     flat("message.publish CPU/call flat, inline, 1 MiB vs 64 B (1 caller)",
          Pub(Default, inline, cpu_us), Pub(Off, inline, cpu_us)),
     flat("message.publish p50 flat, Port, 1 MiB vs 64 B (1 caller; for comparison)",
          Pub(Default, port, p50_us), Pub(Off, port, p50_us))]
        ++ [port_goal(Mode, Default, Off) || Mode <- [inline, dirty_cpu, dirty_io, pool]]
        ++ [port_goal_notify(K, Default, Off) || K <- [calls_per_s, sustained_per_s]].

%% The goals of issue 8, from the default VM run (the Python rows are
%% measured there only): [{Goal, Target, Measured, Verdict}].
python_goals(Runs) ->
    Rows = rows_of(default, Runs),
    Four = fun({G, T, M, V, _Off}) -> {G, T, M, V} end,
    %% The baseline: the Rust handler in pool mode, the same hand-off.
    Rust = fun(K) -> {"the Rust handler's in pool mode", get(Rows, auth, pool, b2b, 1, K)} end,
    [Four(le("Python CustomHook (the article's, unchanged) client.authenticate p50, 1 caller, back to back",
             10.0, "µs", get(Rows, auth, py_custom, b2b, 1, p50_us), undefined, Rust(p50_us))),
     Four(ge("Python CustomHook client.authenticate calls/s, 1 caller", 1.0e5, "calls/s",
             get(Rows, auth, py_custom, b2b, 1, calls_per_s), undefined, Rust(calls_per_s))),
     Four(le("Python minimal handler (no SDK decorators) client.authenticate p50, 1 caller, back to back",
             4.0, "µs", get(Rows, auth, py_minimal, b2b, 1, p50_us), undefined, Rust(p50_us))),
     python_notify_goal(Rows),
     python_port_goal(Rows)].

%% A Python notification costs the caller what a Rust one does: the
%% caller's p50 of client.connected over the Rust driver's (NIF queued),
%% same callers; the highest ratio decides.
python_notify_goal(Rows) ->
    caller_cost_goal("Python client.connected costs the caller what a Rust one does (p50 at the caller "
                     "over NIF queued, CustomHook and minimal, 1/8/64 callers; highest ratio)",
                     Rows, [py_custom, py_minimal], cast, undefined).

%% A notification through transports `Ts' costs the caller what one
%% through `Base' does: the caller's p50 of client.connected over Base's,
%% same callers and run; the highest ratio decides (≤ ×1.25). `CallP50',
%% when known, is the p50 of a call that waits for the same handler,
%% shown for contrast.
caller_cost_goal(Name, Rows, Ts, Base, CallP50) ->
    Target = "≤ ×1.25",
    Ratios = [{maps:get(p50_us, R) / maps:get(p50_us, B), maps:get(transport_label, R), N}
              || R = #{hook := connected, transport := T, variant := b2b, procs := N} <- Rows,
                 lists:member(T, Ts), not is_map_key(skip, R),
                 {ok, B} <- [same_case(Base, R, Rows)], maps:get(p50_us, B) > 0],
    Contrast = case CallP50 of
                   undefined -> "";
                   _ -> io_lib:format("; a call that waits for the handler: p50 ~ts µs (1 caller)", [us(CallP50)])
               end,
    case Ratios of
        [] -> {Name, Target, "—", "not measured"};
        _ ->
            {Hi, HL, HN} = lists:max(Ratios),
            Verdict = case Hi =< 1.25 of
                          true -> io_lib:format("met (highest ×~ts)", [ratio(Hi)]);
                          false -> io_lib:format("MISSED: ×~ts (~ts, ~ts)", [ratio(Hi), HL, callers(HN)])
                      end,
            {Name, Target, [show_ratios(Ratios), Contrast], Verdict}
    end.

%% Python in the VM ≥ 8× the Python Port transport's calls/s: the
%% CustomHook's client.authenticate over the same CustomHook on the Port
%% transport, same callers; the lowest ratio decides.
python_port_goal(Rows) ->
    Name = io_lib:format("Python in the VM ≥ ~b× the Python Port transport's calls/s (the CustomHook's "
                         "client.authenticate, 1/8/64 callers, back to back; lowest ratio)",
                         [?PYTHON_PORT_GOAL]),
    Target = io_lib:format("≥ ×~b", [?PYTHON_PORT_GOAL]),
    case port_ratios(Rows, py_custom, calls_per_s) of
        [] -> {Name, Target, "—", "not measured"};
        Rs -> {Name, Target, show_ratios(Rs), verdict_ratio(lists:min(Rs), ?PYTHON_PORT_GOAL)}
    end.

%%====================================================================
%% Goals of issue 12 (saturated broker, wide ClientInfo), 13 (logging)
%% and 10 (Java)
%%====================================================================

%% A saturated variant's row.
sat_row(undefined, _Id) -> none;
sat_row({_Facts, Rows}, Id) ->
    case [R || R = #{id := I} <- Rows, I =:= Id] of
        [R] -> {ok, R};
        [] -> none
    end.

%% Variant A's messages/s over variant B's, each round's ratio taken
%% within that round: {median, lowest, highest}, or undefined.
sat_ratio(Sat, A, B) ->
    case {sat_row(Sat, A), sat_row(Sat, B)} of
        {{ok, #{rates := RA}}, {ok, #{rates := RB}}} when length(RA) =:= length(RB), RA =/= [] ->
            Ratios = [X / Y || {X, Y} <- lists:zip(RA, RB), Y > 0],
            {exhook_bench:median(Ratios), lists:min(Ratios), lists:max(Ratios)};
        _ -> undefined
    end.

show_sat_ratio({Med, Lo, Hi}) ->
    io_lib:format("×~ts (~ts; rounds ×~ts–×~ts)", [ratio(Med), loss(Med), ratio(Lo), ratio(Hi)]).

%% What a ratio of messages/s loses; above 1 the difference is the noise's.
loss(Ratio) when Ratio >= 1 -> "no loss measured";
loss(Ratio) -> io_lib:format("loses ~ts", [pct(1 - Ratio)]).

%% A variant keeps at least `Goal' of the messages/s of its baseline.
keeps(Name, Ratio, Goal) ->
    Target = io_lib:format("≥ ×~ts (loses ≤ ~ts)", [ratio(Goal), pct(1 - Goal)]),
    case Ratio of
        undefined -> {Name, Target, "—", "not measured"};
        {Med, _, _} when Med >= Goal ->
            {Name, Target, show_sat_ratio(Ratio), io_lib:format("met (~ts)", [loss(Med)])};
        {Med, _, _} ->
            {Name, Target, show_sat_ratio(Ratio),
             io_lib:format("MISSED by ~.1f points: loses ~.1f %, at most ~ts allowed",
                           [(Goal - Med) * 100, (1 - Med) * 100, pct(1 - Goal)])}
    end.

%% A figure reported without a goal of its own.
reported(Name, undefined) -> {Name, "(no goal)", "—", "not measured"};
reported(Name, Measured) -> {Name, "(no goal)", Measured, "reported"}.

%% Issue 12: what a saturated broker loses (items 4 and 6), and the wide
%% ClientInfo (item 6).
saturation_goals(Runs, Sat) ->
    Default = rows_of(default, Runs),
    [keeps("saturated broker: NIF inline, messages/s vs no hook", sat_ratio(Sat, inline, none), 0.95),
     keeps("saturated broker: NIF pool, messages/s vs no hook", sat_ratio(Sat, pool, none), 0.75),
     sat_cpu_goal(Sat),
     pool_b2b_cpu_goal(Default),
     reported("saturated broker: Port, messages/s vs no hook (for comparison)",
              case sat_ratio(Sat, port, none) of undefined -> undefined; R -> show_sat_ratio(R) end),
     wide_goal(Default)].

sat_cpu_goal(Sat) ->
    Name = "saturated broker: NIF pool CPU per call (the VM's CPU per message minus the broker alone's)",
    case sat_row(Sat, pool) of
        {ok, #{hook_cpu_us := C, hook_cpu_range := {Lo, Hi}}} ->
            {N, T, _, V, _} = le(Name, 2.5, "µs", C, undefined),
            {N, T, io_lib:format("~ts µs (middle half of the rounds ~ts–~ts)", [us(C), us(Lo), us(Hi)]), V};
        none ->
            {Name, "≤ 2.50 µs", "—", "not measured"}
    end.

%% The pool's CPU per call where issue 12 first measured it: the back to
%% back client.authenticate rows; the highest of 1, 8 and 64 callers.
pool_b2b_cpu_goal(Rows) ->
    Name = "NIF pool CPU per call, client.authenticate back to back (1/8/64 callers; highest)",
    case [{maps:get(cpu_us, R), N} || N <- [1, 8, 64], {ok, R} <- [find(Rows, auth, pool, b2b, N)]] of
        [] -> {Name, "≤ 2.50 µs", "—", "not measured"};
        Cpus ->
            {Hi, _} = lists:max(Cpus),
            {N, T, _, V, _} = le(Name, 2.5, "µs", Hi, undefined),
            {N, T, lists:join(", ", [io_lib:format("~ts µs (~ts)", [us(C), callers(K)]) || {C, K} <- Cpus]), V}
    end.

%% A handler reading three fields costs the same with 30 more keys in the
%% ClientInfo: p50 within ±10 % (CPU per call shown beside).
wide_goal(Rows) ->
    Name = "inline client.authenticate reading three fields: ClientInfo with 30 extra keys vs the usual "
           "(1 caller, back to back; p50)",
    Target = "×0.90–×1.10",
    case {find(Rows, auth_wide, inline, b2b, 1), find(Rows, auth, inline, b2b, 1)} of
        {{ok, W}, {ok, U}} ->
            P = maps:get(p50_us, W) / maps:get(p50_us, U),
            C = maps:get(cpu_us, W) / maps:get(cpu_us, U),
            %% Two decimals: the goal's band is ±10 %.
            Measured = io_lib:format("p50 ×~.2f (~ts vs ~ts µs); CPU/call ×~.2f (~ts vs ~ts µs)",
                                     [P, us(maps:get(p50_us, W)), us(maps:get(p50_us, U)),
                                      C, us(maps:get(cpu_us, W)), us(maps:get(cpu_us, U))]),
            Verdict = case abs(P - 1) =< 0.10 of
                          true -> io_lib:format("met (×~.2f)", [P]);
                          false -> io_lib:format("MISSED: ×~.2f, ~ts off (±10 % allowed)",
                                                 [P, pct(abs(P - 1))])
                      end,
            {Name, Target, Measured, Verdict};
        _ -> {Name, Target, "—", "not measured"}
    end.

%% Issue 13: a filtered record's cost at the caller, an info line's, and
%% what logging costs a saturated broker.
logging_goals(Runs, Sat) ->
    Rows = rows_of(default, Runs),
    Row = fun(H) -> find(Rows, H, inline_log, b2b, 1) end,
    [filtered_goal(Row(publish_log_none), Row(publish_log_many), Row(publish_log_debug)),
     reported("one info line per call, at the caller: NIF inline message.publish, 1 caller, back to back, "
              "vs the same handler silent",
              case {Row(publish_log_none), Row(publish_log_info)} of
                  {{ok, N}, {ok, I}} ->
                      io_lib:format("p50 ~ts µs, CPU/call ~ts µs (~ts of the info lines dropped by the "
                                    "handler's log queue, warm-up included)",
                                    [signed(maps:get(p50_us, I) - maps:get(p50_us, N)),
                                     signed(maps:get(cpu_us, I) - maps:get(cpu_us, N)),
                                     pct_of(maps:get(log_dropped, I, 0), maps:get(calls, I))]);
                  _ -> undefined
              end),
     keeps("saturated broker: NIF inline logging one info line per message, messages/s vs the same "
           "handler silent", sat_ratio(Sat, inline_log_info, inline), 0.70),
     reported("saturated broker: NIF inline with one filtered debug line per message, messages/s vs the "
              "same handler silent (for comparison)",
              case sat_ratio(Sat, inline_log_debug, inline) of undefined -> undefined; R -> show_sat_ratio(R) end)].

%% A filtered record's cost: the handler makes `log_lines' debug lines a
%% call with the broker at info; the p50 over the silent handler's,
%% divided by the lines (CPU per call alike, and one line's difference).
filtered_goal(None, Many, One) ->
    Name = "a debug record filtered by the broker's level (info), at the caller (NIF inline "
           "message.publish, 1 caller, back to back)",
    case {None, Many} of
        {{ok, N}, {ok, #{log_lines := Lines} = M}} when Lines > 0 ->
            PerLine = (maps:get(p50_us, M) - maps:get(p50_us, N)) / Lines,
            CpuLine = (maps:get(cpu_us, M) - maps:get(cpu_us, N)) / Lines,
            OneText = case One of
                          {ok, O} -> io_lib:format("; one line a call: p50 ~ts µs, CPU/call ~ts µs vs silent",
                                                   [signed(maps:get(p50_us, O) - maps:get(p50_us, N)),
                                                    signed(maps:get(cpu_us, O) - maps:get(cpu_us, N))]);
                          none -> ""
                      end,
            {G, T, _, V, _} = le(Name, 0.05, "µs", PerLine, undefined),
            {G, T, io_lib:format("~.1f ns a record (p50 of ~b records a call over the silent handler's, "
                                 "÷~b; by CPU/call ~.1f ns)~ts",
                                 [PerLine * 1000, Lines, Lines, CpuLine * 1000, OneText]), V};
        _ -> {Name, "≤ 0.050 µs", "—", "not measured"}
    end.

%% Issue 10: Java over the Port, from 1 and 64 callers; notifications at
%% the caller against the Rust handler's on the Port.
java_goals(Runs) ->
    Rows = rows_of(default, Runs),
    Get = fun(H, N, K) -> get(Rows, H, java, b2b, N, K) end,
    %% The baseline: the Rust handler behind the Port launcher, same case.
    Rust = fun(H, N, K) -> {"the Rust handler's on the Port", get(Rows, H, port, b2b, N, K)} end,
    Four = fun({G, T, M, V, _}) -> {G, T, M, V} end,
    Calls = fun(H, Label, N, Goal) ->
                    Four(ge(io_lib:format("Java ~ts calls/s, ~ts", [Label, callers(N)]), Goal, "calls/s",
                            Get(H, N, calls_per_s), undefined, Rust(H, N, calls_per_s)))
            end,
    P50 = fun(H, Label) ->
                  Four(le(io_lib:format("Java ~ts p50, 1 caller, back to back", [Label]), 40.0, "µs",
                          Get(H, 1, p50_us), undefined, Rust(H, 1, p50_us)))
          end,
    [Calls(auth, "client.authenticate", 1, 3.0e4), Calls(acl, "client.check_acl", 1, 3.0e4),
     Calls(auth, "client.authenticate", 64, 1.0e5), Calls(acl, "client.check_acl", 64, 1.0e5),
     P50(auth, "client.authenticate"), P50(acl, "client.check_acl"),
     caller_cost_goal("Java client.connected costs the caller what the Rust handler's on the Port does "
                      "(p50 at the caller over the Port's, 1/8/64 callers; highest ratio)",
                      Rows, [java], port, Get(auth, 1, p50_us)),
     reported("Java vs the Rust handler behind the Port launcher, calls/s (client.authenticate and "
              "client.check_acl, 1/8/64 callers; lowest to highest)",
              case [{maps:get(calls_per_s, R) / maps:get(calls_per_s, P), maps:get(hook_label, R), N}
                    || R = #{transport := java, variant := b2b, procs := N, hook := H} <- Rows,
                       H =:= auth orelse H =:= acl, not is_map_key(skip, R),
                       {ok, P} <- [same_case(port, R, Rows)], maps:get(calls_per_s, P) > 0] of
                  [] -> undefined;
                  Rs -> show_ratios(Rs)
              end)].

%% Every NIF mode ≥ 20× the Port transport's calls/s: each fold hook the
%% mode was measured with (same hook, callers and VM run, back to back),
%% the lowest ratio decides.
port_goal(Mode, Default, Off) ->
    Name = io_lib:format("NIF ~ts ≥ ~b× the Port transport's calls/s (every fold hook measured, "
                         "1/8/64 callers, back to back; lowest ratio)", [Mode, ?PORT_GOAL]),
    Target = io_lib:format("≥ ×~b", [?PORT_GOAL]),
    Ratios = fun(Rows) -> port_ratios(Rows, Mode, calls_per_s) end,
    case Ratios(Default) of
        [] -> {Name, Target, "—", "not measured", "—"};
        Rs -> {Name, Target, show_ratios(Rs), verdict_ratio(lists:min(Rs)), show_ratios(Ratios(Off))}
    end.

%% The notification: what a client.connected costs the caller (casts per
%% second, both transports fire and forget), and events handled per second.
port_goal_notify(K, Default, Off) ->
    What = case K of
               calls_per_s -> "at the caller (casts/s)";
               sustained_per_s -> "through the handler (events handled/s)"
           end,
    Name = io_lib:format("for comparison: NIF queued client.connected vs the Port transport, ~ts", [What]),
    Target = io_lib:format("≥ ×~b", [?PORT_GOAL]),
    case port_ratios(Default, cast, K) of
        [] -> {Name, Target, "—", "not measured", "—"};
        Rs -> {Name, Target, show_ratios(Rs), verdict_ratio(lists:min(Rs)),
               show_ratios(port_ratios(Off, cast, K))}
    end.

%% [{Ratio, Hook label, Procs}] of transport T over the Port, back to back.
port_ratios(Rows, T, K) ->
    [{maps:get(K, R) / maps:get(K, P), maps:get(hook_label, R), N}
     || R = #{transport := T1, variant := b2b, procs := N} <- Rows, T1 =:= T, not is_map_key(skip, R),
        is_map_key(K, R), {ok, P} <- [port_of(R, Rows)], is_number(maps:get(K, P, undefined)),
        maps:get(K, P) > 0].

show_ratios([]) -> "—";
show_ratios(Rs) ->
    {Lo, LH, LN} = lists:min(Rs),
    {Hi, HH, HN} = lists:max(Rs),
    io_lib:format("×~ts (~ts, ~ts) to ×~ts (~ts, ~ts)",
                  [ratio(Lo), LH, callers(LN), ratio(Hi), HH, callers(HN)]).

callers(1) -> "1 caller";
callers(N) -> io_lib:format("~b callers", [N]).

verdict_ratio(Lowest) -> verdict_ratio(Lowest, ?PORT_GOAL).

verdict_ratio({Lo, _, _}, Goal) when Lo >= Goal ->
    io_lib:format("met (lowest ×~ts, ~ts above)", [ratio(Lo), pct(Lo / Goal - 1)]);
verdict_ratio({Lo, H, N}, Goal) ->
    io_lib:format("MISSED by ×~ts (~ts, ~ts: ×~ts, ~ts short of ×~b)",
                  [ratio(Goal / Lo), H, callers(N), ratio(Lo), pct(1 - Lo / Goal), Goal]).

rows_of(Vm, Runs) ->
    case [R || {#{vm := V}, R} <- Runs, V =:= Vm] of
        [Rows] -> Rows;
        [] -> []
    end.

le(Name, Target, Unit, Value, Off) ->
    Verdict = case Value of
                  undefined -> "not measured";
                  _ when Value =< Target -> io_lib:format("met (~ts below)", [pct(1 - Value / Target)]);
                  _ -> io_lib:format("MISSED by ~ts ~ts (~ts over, ×~ts)",
                                     [num(Value - Target), Unit, pct(Value / Target - 1), ratio(Value / Target)])
              end,
    {Name, io_lib:format("≤ ~ts ~ts", [num(Target), Unit]), value(Value, Unit), Verdict, value(Off, Unit)}.

ge(Name, Target, Unit, Value, Off) ->
    Verdict = case Value of
                  undefined -> "not measured";
                  _ when Value >= Target -> io_lib:format("met (~ts above)", [pct(Value / Target - 1)]);
                  _ -> io_lib:format("MISSED by ~ts ~ts (~ts short; ×~ts of the goal)",
                                     [rate(Target - Value), Unit, pct(1 - Value / Target), ratio(Value / Target)])
              end,
    {Name, io_lib:format("≥ ~ts ~ts", [rate(Target), Unit]), value(Value, Unit), Verdict, value(Off, Unit)}.

%% A goal `le/5' or `ge/5' made, its measured figure beside its baseline
%% in the same run: `{Label, BaseValue}' (Label says whose it is).
based({N, T, M, V, O}, Value, {Label, Base}, Unit) when is_number(Value), is_number(Base), Base > 0 ->
    {N, T, [M, io_lib:format(" (×~ts ~ts, ~ts)", [ratio(Value / Base), Label, value(Base, Unit)])], V, O};
based(Goal, _Value, _Base, _Unit) ->
    Goal.

%% `le/5' with the measured figure against its baseline `Base'.
le(Name, Target, Unit, Value, Off, Base) ->
    based(le(Name, Target, Unit, Value, Off), Value, Base, Unit).

ge(Name, Target, Unit, Value, Off, Base) ->
    based(ge(Name, Target, Unit, Value, Off), Value, Base, Unit).

%% A goal measured in the run with busy-waiting off only.
le_off(Name, Target, Unit, Off) ->
    {N, T, M, V, _} = le(Name, Target, Unit, Off, undefined),
    {N, T, M, V, "(this row)"}.

%% The 64 callers' p99 beside the slow neighbour, within ×2 of alone.
beside_goal(V, Default, Off) ->
    Name = io_lib:format("pool client.authenticate p99, 64 callers beside one whose logins take 100 ms, "
                         "vs the same 64 alone (~ts)", [variant_short(V)]),
    Ratio = fun(Rows) ->
                    case {get(Rows, auth_beside_slow, pool, V, 64, p99_us), get(Rows, auth, pool, V, 64, p99_us)} of
                        {B, A} when is_number(B), is_number(A), A > 0 -> {B / A, B, A};
                        _ -> undefined
                    end
            end,
    Show = fun(undefined) -> "—";
              ({R, B, A}) -> io_lib:format("×~ts (~ts µs beside, ~ts µs alone)", [ratio(R), us(B), us(A)])
           end,
    Verdict = case Ratio(Default) of
                  undefined -> "not measured";
                  {R, _, _} when R =< 2 -> io_lib:format("met (×~ts)", [ratio(R)]);
                  {R, _, _} -> io_lib:format("MISSED: ×~ts", [ratio(R)])
              end,
    {Name, "p99 ≤ ×2 of alone", Show(Ratio(Default)), Verdict, Show(Ratio(Off))}.

variant_short(b2b) -> "back to back";
variant_short(sparse) -> "sparse".

%% The idle driver's threads, as a share of one core.
idle_goal(Runs) ->
    Idle = fun(Vm) ->
                   case [I || {#{vm := V, idle := I}, _} <- Runs, V =:= Vm, is_map(I)] of
                       [I] -> I;
                       [] -> undefined
                   end
           end,
    Show = fun(undefined) -> "—";
              (#{pool_cpu_pct := P, vm_cpu_pct := Vm, threads := T, secs := S}) ->
                   io_lib:format("~.3f % (~b threads, ~.1f s; the whole VM ~.2f %)", [P, T, S, Vm])
           end,
    Verdict = case Idle(default) of
                  undefined -> "not measured";
                  #{pool_cpu_pct := P} when P < 1.0 -> "met";
                  #{pool_cpu_pct := P} -> io_lib:format("MISSED: ~.2f % of a core", [P])
              end,
    {"CPU of an idle driver with 8 workers (its threads, after a burst of calls)", "< 1 % of a core",
     Show(Idle(default)), Verdict, Show(Idle(sbwt_none))}.

%% Against the Port's events handled per second from as many callers.
sustained(Best, Off, Rows) ->
    Show = fun(undefined) -> "not measured";
              ({S, N}) -> io_lib:format("~ts events/s (best: ~b callers)", [rate(S), N])
           end,
    Base = case Best of
               {S0, N0} ->
                   case get(Rows, connected, port, b2b, N0, sustained_per_s) of
                       P when is_number(P), P > 0 ->
                           io_lib:format(" (×~ts the Port's, ~ts events/s)", [ratio(S0 / P), rate(P)]);
                       _ -> ""
                   end;
               undefined -> ""
           end,
    Value = case Best of undefined -> undefined; {S, _} -> S end,
    {Name, Target, _, Verdict, _} = ge("client.connected sustained through the handler", 1.0e6,
                                       "events/s", Value, undefined),
    {Name, Target, [Show(Best), Base], Verdict, Show(Off)}.

%% Flat: the 1 MiB figure within 25 % of the 64 B one.
flat(Name, Ratio, Off) ->
    Verdict = case Ratio of
                  undefined -> "not measured";
                  _ when Ratio =< 1.25 -> io_lib:format("met (1 MiB is ×~ts of 64 B)", [ratio(Ratio)]);
                  _ -> io_lib:format("MISSED: 1 MiB is ×~ts of 64 B", [ratio(Ratio)])
              end,
    Show = fun(undefined) -> "—"; (R) -> io_lib:format("×~ts", [ratio(R)]) end,
    {Name, "1 MiB ≤ ×1.25 of 64 B", Show(Ratio), Verdict, Show(Off)}.

value(undefined, _) -> "—";
value(V, "calls/s") -> rate(V);
value(V, "events/s") -> rate(V);
value(V, Unit) -> io_lib:format("~ts ~ts", [num(V), Unit]).

%%====================================================================
%% Text output
%%====================================================================

print(#{runs := Runs} = Data, Sections, Tables, Elapsed) ->
    io:format("~n~n==================== exhook bench results ====================~n"),
    [print_facts(F) || {F, _} <- hd_only(Runs)],
    io:format("~ts~n", [cpu_note(Runs)]),
    [begin
         io:format("~n--- ~ts ---~n~ts~n", [T, wrap(Intro)]),
         text_table(?HEADER, Cells)
     end || {T, Intro, Cells} <- Sections],
    [begin
         io:format("~n--- ~ts ---~n", [T]),
         text_table(Header, Cells),
         io:format("~ts", [Breakdown])
     end || {T, _Intro, Header, Cells, Breakdown} <- saturation_section(Data)],
    [begin
         io:format("~n--- ~ts ---~n", [T]),
         text_table(Header, Cells)
     end || {T, _Intro, Header, Cells} <- Tables],
    io:format("~nbench took ~b s (build, the VM runs, the saturated broker, the database benchmarks)~n",
              [Elapsed]).

hd_only([R | _]) -> [R];
hd_only([]) -> [].

print_facts(F) ->
    [io:format("~-34ts ~ts~n", [K, V]) || {K, V} <- fact_lines(F)].

fact_lines(F) ->
    [{"CPU", maps:get(cpu_model, F)},
     {"cores (logical_processors_available)", integer_to_list(maps:get(logical_processors_available, F))},
     {"nproc", maps:get(nproc, F)},
     {"schedulers / dirty CPU / dirty IO",
      io_lib:format("~b / ~b / ~b", [maps:get(schedulers_online, F), maps:get(dirty_cpu_schedulers_online, F),
                                     maps:get(dirty_io_schedulers, F)])},
     {"OTP release / erts", io_lib:format("OTP ~ts / erts ~ts", [maps:get(otp_release, F), maps:get(erts_version, F)])},
     {"rustc", maps:get(rustc, F)},
     {"python3 (the python3 driver's)", maps:get(python, F, "?")},
     {"java (the java driver's)", maps:get(java, F, "?")},
     {"kernel", maps:get(kernel, F)},
     {"source", io_lib:format("~ts (~ts tracked files modified)", [maps:get(git, F), maps:get(git_changes, F)])},
     {"date", maps:get(date, F)},
     {"profile", profile_line(maps:get(profile, F), maps:get(profile_settings, F))}].

profile_line(Name, #{reps := Reps, b2b_ms := B, sparse_ms := S, warmup_ms := W,
                     notify_events := E, stride := St}) ->
    io_lib:format("~ts: ~b repetitions; back to back ~b ms, sparse ~b ms, warm-up ~b ms per measurement; "
                  "~b client.connected events per burst; one call in ~b timed back to back",
                  [Name, Reps, B, S, W, E, St]).

cpu_note(Runs) ->
    Source = case Runs of
                 [{#{cpu_source := S}, _} | _] -> S;
                 _ -> <<"?">>
             end,
    io_lib:format(
      "CPU µs/call: OS CPU time of the whole VM process (every thread: schedulers, dirty "
      "schedulers and the driver's native pool threads, which erlang:statistics(runtime) "
      "does not see), and for Port rows of the port driver's handler processes too, "
      "from ~ts, over the measured interval, divided by the calls made. "
      "It includes what busy-waiting schedulers burn. Latency: one call in 8 timed "
      "(back to back; every call when sparse) with erlang:monotonic_time/1 around "
      "apply(M, F, Args) of the registered callback, ~~0.05 µs of it the clock itself. "
      "Medians of the repetitions.", [Source]).

wrap(Text) -> Text.

text_table(Header, Rows) ->
    All = [Header | [[lists:flatten(C) || C <- R] || R <- Rows]],
    Widths = [lists:max([string:length(lists:nth(I, R)) || R <- All]) || I <- lists:seq(1, length(Header))],
    Line = fun(R) ->
                   io:format("~ts~n", [string:trim(lists:join("  ", [pad(C, W) || {C, W} <- lists:zip(R, Widths)]),
                                                   trailing)])
           end,
    Line(Header),
    io:format("~ts~n", [lists:join("  ", [lists:duplicate(W, $-) || W <- Widths])]),
    [Line(R) || R <- tl(All)],
    ok.

pad(C, W) -> C ++ lists:duplicate(W - string:length(C), $\s).

%%====================================================================
%% Markdown
%%====================================================================

markdown(#{runs := Runs} = Data, Sections, Tables, Command, Elapsed, Svg) ->
    {F, _} = hd(Runs),
    unicode:characters_to_binary(
      ["# exhook bench: results\n\n",
       io_lib:format("Command: `~ts` (~b s, build included). Profile `~ts`. ", [Command, Elapsed, maps:get(profile, F)]),
       "The path measured is the broker's: the callback `emqx_extension_hook:callbacks(bench)` registers "
       "(for the Port rows, `callbacks(bench_port)`: the same handler library behind the Port transport), "
       "called as `apply(M, F, HookArgs ++ ExtraArgs)` with the arguments EMQX 4.4.19 passes "
       "(`native/emqx-extension-sdk/samples/emqx-4.4.19-hook-samples.txt`, one clientid per caller), down to the handler "
       "`bench/handler` and back. The Python rows are python3 drivers of their own "
       "(`bench_py_custom`, `bench_py_minimal`, `bench_py_port`): the seed article's CustomHook "
       "unchanged on the PyPI SDK, a minimal handler without the SDK's decorators, the CustomHook on "
       "the Port transport. The Java rows are a java driver (`bench_java`: one JVM running "
       "`bench/java/BenchHandler.java`, the Rust handler's twin, behind the same Port transport). "
       "The saturated broker is a VM run of its own (`exhook_bench_saturation`), the database "
       "example's numbers its own benchmark's output, and the Python database example's "
       "`exhook_pydb_bench`'s, all from this same command. Each VM run is a "
       "separate `erl`; ratios are computed within a run.\n\n",
       io_lib:format("![calls per second and p50 latency](~ts)\n\n", [Svg]),
       "## Machine\n\n| | |\n|---|---|\n",
       [io_lib:format("| ~ts | ~ts |\n", [K, md_escape(V)]) || {K, V} <- fact_lines(F)],
       [io_lib:format("| VM run ~ts | ~ts; load average at its start ~ts |\n",
                      [maps:get(vm, Fx), maps:get(vm_flags, Fx), maps:get(loadavg, Fx, "?")])
        || {Fx, _} <- Runs],
       "\n", cpu_note(Runs), "\n\n",
       [["## ", T, "\n\n", Intro, "\n\n", md_table(Header, Cells), "\n"] || {T, Intro, Header, Cells} <- Tables],
       [["## ", T, "\n\n", Intro, "\n\n", md_table(Header, Cells), "\n", Breakdown, "\n"]
        || {T, Intro, Header, Cells, Breakdown} <- saturation_section(Data)],
       [["## ", T, "\n\n", Intro, "\n\n", md_table(?HEADER, Cells), "\n"] || {T, Intro, Cells} <- Sections],
       database_section(Data),
       pydb_section(Data),
       run_notes(Runs)]).

%%====================================================================
%% The saturated broker and the database example
%%====================================================================

-define(SAT_HEADER, ["variant", "messages/s", "vs no hook", "broker time µs/message", "CPU µs/message",
                     "hook CPU µs/call", "notes"]).

%% [{Title, Intro, Header, Cells, Breakdown}]: none when not measured.
saturation_section(#{saturation := {Facts, Rows}} = Data) ->
    #{callers := Callers, work_us := Work, schedulers := S, rounds := Rounds, slice_ms := SliceMs} = Facts,
    Intro = io_lib:format(
              "~b Erlang processes stand in for a busy broker's connection processes: each does about ~b µs "
              "of broker-like work per message (three route lookups in an ETS table of 5000 topics, the "
              "message sent to one of ~b subscriber processes, CPU calibrated on this machine) and calls the "
              "`message.publish` callback the plugin registered, every scheduler busy (~b schedulers, default "
              "flags, a VM run of its own). The same callers run throughout and switch variant every ~b ms: "
              "~b rounds, each giving every variant one slice, in an order drawn anew each round (one "
              "more round first warms up, not counted). messages/s: over all of a variant's slices. vs no "
              "hook: messages/s over the broker alone's within each round (the median, and the middle half "
              "of the rounds' values). Broker time per message: schedulers ÷ messages/s. CPU µs/message: "
              "the VM's CPU time (every thread; for the Port, its handler processes' too) over the messages; "
              "hook CPU µs/call: that minus the broker alone's, within each round (the median). On a "
              "machine busy with other work the OS shares the CPU out by thread, so the VM gets more of it "
              "while a variant adds runnable threads (the pool's workers, the logger's file writes): the "
              "messages/s ratios then favour those variants, and CPU µs/message is the steadier figure.",
              [Callers, Work, maps:get(subscribers, Facts, 8), S, SliceMs, Rounds]),
    Cells = [sat_cells(R, S) || R <- Rows],
    [{"Saturated broker (issue 12 item 4; the logging variants of issue 13)", Intro, ?SAT_HEADER, Cells,
      sat_breakdown(maps:get(saturation, Data), rows_of(default, maps:get(runs, Data)))}];
saturation_section(_Data) ->
    [].

sat_cells(#{id := Id, label := L, msgs_per_s := Rate, ratio := X, ratio_range := {Lo, Hi}} = R, S) ->
    Notes = [io_lib:format("handler processes: ~ts µs of the CPU per message", [us(PC)])
             || #{port_cpu_us_per_msg := PC} <- [R], Id =:= port]
        ++ [io_lib:format("~b calls of this variant's driver (its variants, the whole run, warm-up "
                          "included) answered by the failure policy (refused: port busy; failed; timed "
                          "out), counted as messages", [U])
            || #{unanswered := U} <- [R], U > 0],
    [binary_to_list(L), rate(Rate),
     case Id of
         none -> "1 (baseline)";
         _ -> io_lib:format("×~ts (×~ts–×~ts)", [ratio(X), ratio(Lo), ratio(Hi)])
     end,
     us(S / Rate * 1.0e6), us(maps:get(cpu_us_per_msg, R)),
     case Id of
         none -> "0 (baseline)";
         _ -> us(maps:get(hook_cpu_us, R))
     end,
     lists:join("; ", Notes)].

%% Where the inline path's cost goes in the saturated broker, from its
%% rows and the default VM run's isolated costs.
sat_breakdown(Sat, Rows) ->
    Hook = fun(Id) -> case sat_row(Sat, Id) of {ok, #{hook_cpu_us := C}} -> C; none -> undefined end end,
    Cpu = fun(H, T) -> get(Rows, H, T, b2b, 1, cpu_us) end,
    case {Hook(erlang_side), Hook(inline), sat_ratio(Sat, inline, none)} of
        {Side, Inline, {Med, _, _}} when is_number(Side), is_number(Inline) ->
            Isolated = Cpu(publish_64, inline),
            Floors = [io_lib:format("the pure-Erlang floor (a callback in Erlang) ~ts µs and the empty NIF floor "
                                    "(a callback calling a NIF that returns `ok`) ~ts µs",
                                    [us(E), us(N)])
                      || E <- [Cpu(publish_64, erlang)], N <- [Cpu(auth, empty_nif)], is_number(E), is_number(N)],
            ["Where the inline path's cost goes, as CPU per message above the broker alone's (medians of the "
             "rounds): ",
             io_lib:format("the plugin's Erlang side without a NIF call (the callback, the `persistent_term` "
                           "lookup of the driver, the hook's mode; the `erlang_side` variant, through a hook the "
                           "handler does not implement) ~ts µs; the NIF call and the handler (inline minus "
                           "`erlang_side`) ~ts µs; inline in all ~ts µs, for ~ts of the broker's messages/s. ",
                           [us(Side), us(Inline - Side), us(Inline), pct(max(0, 1 - Med))]),
             case Isolated of
                 undefined -> "";
                 _ -> io_lib:format("Isolated, in the default VM run of this same command (1 caller, back to "
                                    "back): the inline message.publish 64 B costs ~ts µs of CPU per call~ts, so "
                                    "the saturated broker pays ~ts µs per message ~ts the isolated call. ",
                                    [us(Isolated),
                                     case Floors of [] -> ""; [Fl] -> [", ", Fl] end,
                                     us(abs(Inline - Isolated)),
                                     case Inline >= Isolated of true -> "more than"; false -> "less than" end])
             end,
             "Not on the path, so not measured apart: the EMQX metric increment (the plugin adds its counts to "
             "`emqx_metrics` once a second, off the hook path), the result's shape and the broker's copies of a "
             "returned message (the bench handler continues: the callback returns `ok`; a rewrite is not "
             "measured here).\n"];
        _ -> ""
    end.

%% The database example's benchmark output, as it printed it (Markdown
%% tables), its headings one level down.
database_section(#{database := Text}) ->
    Lines = string:split(Text, "\n", all),
    ["## Database example (issue 9 item 5)\n\n",
     "The output of `target/release/exhook-db-bench` (`--quick` in the smoke run), run by this same command "
     "after the VM runs: the example's own benchmark, with its own baseline (the user lookup alone). "
     "Printed, not asserted; `make bench-database` runs it alone.\n\n",
     lists:join("\n", [case L of
                           <<"## ", Rest/binary>> -> [<<"### ">>, Rest];
                           _ -> L
                       end || L <- Lines]),
     "\n"];
database_section(_Data) ->
    [].

%% The Python database example's benchmark output, as printed (a
%% Markdown table whose baseline is the Rust example of the same run).
pydb_section(#{pydb := Text}) ->
    ["## Database example in Python\n\n",
     "The output of `exhook_pydb_bench` (`make bench-python-database` alone, at 2 s a measurement; here 1 s, 0.2 s in "
     "the smoke run), run by this same command: logins/s through the Python database example "
     "(`native/python/examples/database`, python3 driver) on SQLite from 1 and 64 callers, against the "
     "Rust database example on the same file and users in the same run (vs baseline). Printed, not "
     "asserted.\n\n",
     Text, "\n"];
pydb_section(_Data) ->
    [].

run_notes(Runs) ->
    Counters = [{maps:get(vm, F), maps:get(driver_failures, F, #{})} || {F, _} <- Runs],
    Nif = fun(Rows) -> [R || R = #{transport := T} <- Rows, T =/= port, T =/= py_port, T =/= java] end,
    Failed = [R || {_, Rows} <- Runs, R = #{failed := N} <- Nif(Rows), N > 0],
    Dropped = [R || {_, Rows} <- Runs, R = #{dropped := N} <- Nif(Rows), N > 0],
    PortRefused = [R || {_, Rows} <- Runs, R = #{transport := T} <- Rows, T =:= port orelse T =:= java,
                        maps:get(refused, R, 0) + maps:get(dropped, R, 0) > 0],
    Procs = case Runs of
                [{#{port_processes := P}, _} | _] -> P;
                _ -> 2
            end,
    Threads = case Runs of
                  [{#{port_process_threads := [T]}, _} | _] -> io_lib:format("~b threads", [T]);
                  [{#{port_process_threads := Ts}, _} | _] when is_list(Ts) ->
                      io_lib:format("~w threads", [Ts]);
                  _ -> "?"
              end,
    ["## Notes\n\n",
     io_lib:format(
       "- Port transport: a second driver, `bench_port`, with the same handler library and "
       "`{transport, port}`, `pool_size` ~b (~b OS processes, the launcher `emqx_exhook_port`), "
       "`queue_capacity` 131072, `call_timeout` 5000 ms; enabled only around its own cases, next to the "
       "NIF driver `bench`. Its broker callbacks come from `emqx_extension_hook:callbacks(bench_port)`. "
       "Port CPU per call adds the handler processes' CPU (`/proc/PID/task/*/schedstat`) to the VM's; "
       "the notes give their share. Each handler process ran ~ts (after the last Port case): its "
       "reader, its pool's manager and its workers: one kept warm (the driver passes each process "
       "`pool_size` 1 and its share of `pool_max` and `queue_capacity`), more while calls block; "
       "an idle worker spins up to 10 µs before it sleeps.\n",
       [Procs, Procs, Threads]),
     "- Port client.connected through the handler: the handler counts events in its own OS process, "
     "where the VM cannot read it, so `bench/handler` answers a probe (`message.delivered` on "
     "`$bench/connected`, with the process's OS pid and count). After its burst each caller calls the "
     "probe with its own clientid: same OS process, same lane as its events, so the answer "
     "comes once they are handled. Handled = each process's count after minus before; sustained = "
     "handled events over the time from the first cast to the last probe's answer. Probes the busy "
     "port refused were retried (they are the `message.delivered` entries in the counters below).\n",
     case PortRefused of
         [] -> "- The port driver refused no call and dropped no notification.\n";
         _ -> io_lib:format(
                "- The port driver refused calls or dropped notifications in ~b Port rows (see their "
                "notes): `emqx_extension_hook_port` sends with `port_command(Port, Data, [nosuspend])` and "
                "answers `{error, busy}` (a fold hook: the broker gets `failed_action`, here deny; a "
                "notification: dropped) whenever the port is busy: more than 8 KiB queued in the VM for "
                "the port, beyond what the pipe holds (the default `busy_limits_port` of `open_port`, which "
                "the driver does not set): about 25 client.authenticate requests or 13 client.connected "
                "events; one 1 MiB message.publish makes the port busy until the handler process has read "
                "most of it.\n",
                [length(PortRefused)])
     end,
     port_goal_notes(rows_of(default, Runs)),
     python_goal_notes(rows_of(default, Runs)),
     new_rows_notes(Runs),
     ["- Python rows: python3 drivers, each enabled only around its own cases, with `pool_size` 2 "
     "(two worker threads taking the interpreter's lock in turn; on the Port transport two OS "
     "processes, an interpreter each), `queue_capacity` 65536, `call_timeout` 5000 ms: "
     "`bench_py_custom` runs the seed article's CustomHook unchanged "
     "(`native/python/tests/fixtures/custom_hook/hooks.py`, the PyPI SDK 0.2 from `_build/pyvenv`; "
     "its `print()` lines are made and filtered at the broker's level, error here), "
     "`bench_py_minimal` the original's raw call convention without the SDK "
     "(`bench/python/bench_minimal.py`), `bench_py_port` the CustomHook on the Port transport. "
     "Every fold answer is checked against the broker's expected answer. client.connected bursts "
     "are a fifth of the Rust ones' events.\n"
      || lists:any(fun(#{transport := T}) -> is_python_transport(T) end, rows_of(default, Runs))],
     case Dropped of
         [] -> "- No NIF notification was dropped (the bench driver's queue_capacity is 131072).\n";
         _ -> io_lib:format("- NIF notifications were dropped (queue full) in ~b rows; see the notes column.\n",
                            [length(Dropped)])
     end,
     case Failed of
         [] -> "";
         _ -> io_lib:format("- Failed NIF notifications in ~b rows.\n", [length(Failed)])
     end,
     [begin
          ByKind = maps:fold(fun(K, V, Acc) ->
                                     maps:update_with(driver_kind(element(1, K)), fun(M) -> M#{K => V} end,
                                                      #{K => V}, Acc)
                             end, #{}, C),
          Of = fun(Kind) -> maps:get(Kind, ByKind, #{}) end,
          [case maps:size(Of(nif)) of
               0 -> io_lib:format("- VM run ~ts: the NIF driver counted no failed, timed-out or dropped call.\n",
                                  [Vm]);
               _ -> io_lib:format("- VM run ~ts: the NIF driver counted failures: ~ts\n", [Vm, counts(Of(nif))])
           end,
           case maps:size(Of(port)) of
               0 -> io_lib:format("- VM run ~ts: the port driver counted no failed, timed-out or refused call "
                                  "and no restart.\n", [Vm]);
               _ -> io_lib:format("- VM run ~ts: the port driver counted (all its cases, warm-ups included): "
                                  "~ts\n", [Vm, counts(Of(port))])
           end,
           case maps:size(Of(java)) of
               0 -> "";
               _ -> io_lib:format("- VM run ~ts: the java driver counted (all its cases, warm-ups included): "
                                  "~ts\n", [Vm, counts(Of(java))])
           end,
           case maps:size(Of(python)) of
               0 -> "";
               _ -> io_lib:format("- VM run ~ts: the python3 drivers counted (all their cases, warm-ups "
                                  "included): ~ts\n", [Vm, counts(Of(python))])
           end]
      end || {Vm, C} <- Counters]].

%% What the Java, logging and wide-ClientInfo rows are, when measured.
new_rows_notes(Runs) ->
    Rows = rows_of(default, Runs),
    Has = fun(T) -> lists:any(fun(#{transport := T1}) -> T1 =:= T end, Rows) end,
    HasHook = fun(H) -> lists:any(fun(#{hook := H1}) -> H1 =:= H end, Rows) end,
    JavaThreads = case [Ts || {#{vm := default, java_process_threads := Ts}, _} <- Runs, is_list(Ts)] of
                      [Ts] -> io_lib:format("~w", [Ts]);
                      [] -> "?"
                  end,
    [[io_lib:format(
        "- Java rows: a java driver, `bench_java` (`kind = java`): one JVM (`pool_size` 1, the driver's "
        "default; the Rust Port rows, its baseline, run 2 OS processes), `init_module` `BenchHandler` "
        "from `_build/java/bench` (built from `bench/java/` by `make java-bench`), `jvm_args` `-Xmx256m`, "
        "`queue_capacity` 131072, `call_timeout` 5000 ms; enabled only around its own cases, so a new JVM "
        "each repetition; the driver rehearses its own path before it answers init, then the benchmark "
        "calls each fold hook for its share of 1 s (0.3 s in the smoke run) before the cases are measured, "
        "so that the JIT has compiled the handler too. The JVM ran ~ts threads "
        "(after its last case). It answers as `bench/handler` does (every fold answer checked) and "
        "answers the same probe, so client.connected through the handler is counted as for the Port rows.\n",
        [JavaThreads]) || Has(java)],
     ["- Logging rows: the NIF driver inline, the broker's level (the primary logger's) at info around "
      "these cases only (the plugin pushes it to the driver at enable; every other case runs at error). "
      "The handlers' records go to a file (a `logger_std_h` handler for the plugin's handler domain only, "
      "as EMQX's emqx.log), nothing to the console. `bench/handler` logs N lines per message on the topic "
      "`log/LEVEL/N`: an info line is formatted on the calling thread and queued (a bounded queue of 8192 "
      "records; when it is full the record is dropped and counted), a debug line is filtered by the level "
      "before anything is formatted.\n" || Has(inline_log)],
     ["- Wide ClientInfo: the usual client.authenticate ClientInfo (10 keys: a flat map) with 30 more "
      "(40 keys: a hash map), their values binaries, integers and small maps; the handler reads clientid, "
      "password and username.\n" || HasHook(auth_wide)]].

%% Where the Python time goes, from the rows of the same run: the minimal
%% handler against the Rust handler in pool mode (the same hand-off to a
%% worker thread), the CustomHook against the minimal handler (the PyPI
%% SDK's decorator), and why the Python Port is close.
python_goal_notes(Rows) ->
    P50 = fun(T) -> get(Rows, auth, T, b2b, 1, p50_us) end,
    case {P50(py_minimal), P50(py_custom), P50(pool), P50(py_port)} of
        {Min, Custom, Pool, PyPort} when is_number(Min), is_number(Custom), is_number(Pool),
                                         is_number(PyPort) ->
            [io_lib:format("- Python client.authenticate p50 from one caller: the minimal handler ~ts µs, the "
                           "Rust handler in pool mode ~ts µs in the same run: both wait for the same hand-off "
                           "to a worker thread and back, which dominates; called directly (`cargo bench -p "
                           "emqx-extension-python --bench percall`) the minimal handler costs about 1.2 µs. "
                           "The CustomHook costs ~ts µs more than the minimal handler: the PyPI SDK's "
                           "`@hooks_handler` turns each argument into an object on every call (about 7 µs a "
                           "call on its own, 80 % of it in the SDK's `parse` under cProfile), which also caps "
                           "one interpreter near 130 k CustomHook calls/s.\n",
                           [us(Min), us(Pool), us(Custom - Min)]),
             io_lib:format("- The CustomHook on the Port transport: p50 ~ts µs. The VM's interpreter runs one "
                           "call at a time (one interpreter lock for every worker thread), while the Port "
                           "transport runs an interpreter in each of its ~b processes in parallel, so with "
                           "more callers the Port gains on it; the original plugin's Port (erlport, measured "
                           "earlier on this machine) did 6.5-7.1 k calls/s at 120-138 µs.\n",
                           [us(PyPort), ?PYTHON_PORT_PROCESSES])];
        _ -> ""
    end.

%% Where each NIF mode comes closest to the Port (the lowest ratio of the
%% goal), the two rows side by side: rate, latency, CPU and its split.
port_goal_notes(Rows) ->
    [case port_ratios(Rows, Mode, calls_per_s) of
         [] -> "";
         Rs ->
             {Lo, _, N} = lists:min(Rs),
             [R] = [R || R = #{transport := T, variant := b2b, procs := N1} <- Rows, T =:= Mode, N1 =:= N,
                         not is_map_key(skip, R), {ok, P} <- [port_of(R, Rows)],
                         maps:get(calls_per_s, R) / maps:get(calls_per_s, P) == Lo],
             {ok, P} = port_of(R, Rows),
             io_lib:format("- NIF ~ts comes closest to the Port (×~ts, ~ts, ~ts, back to back, default VM): "
                           "NIF ~ts calls/s, p50 ~ts µs, CPU ~ts µs/call; Port ~ts calls/s, p50 ~ts µs, CPU ~ts "
                           "µs/call of which ~ts µs in the handler processes~ts.\n",
                           [Mode, ratio(Lo), maps:get(hook_label, R), callers(N),
                            rate(maps:get(calls_per_s, R)), us(maps:get(p50_us, R)), us(maps:get(cpu_us, R)),
                            rate(maps:get(calls_per_s, P)), us(maps:get(p50_us, P)), us(maps:get(cpu_us, P)),
                            us(maps:get(port_cpu_us, P, 0)),
                            case maps:get(refused, P, 0) of
                                Ref when Ref > 0 -> io_lib:format(" (~ts of its calls refused, not counted)",
                                                                  [pct_of(Ref, Ref + maps:get(calls, P))]);
                                _ -> ""
                            end])
     end || Mode <- [inline, dirty_cpu, dirty_io, pool]].

is_python_driver(Name) ->
    lists:member(Name, [bench_py_custom, bench_py_minimal, bench_py_port]).

is_python_transport(T) ->
    lists:member(T, [py_custom, py_minimal, py_port]).

%% Which of the bench's drivers a counter belongs to.
driver_kind(bench_port) -> port;
driver_kind(bench_java) -> java;
driver_kind(Name) ->
    case is_python_driver(Name) of
        true -> python;
        false -> nif
    end.

counts(M) ->
    lists:join(", ", [io_lib:format("~ts ~b", [counter_name(K), V]) || {K, V} <- lists:sort(maps:to_list(M))]).

counter_name({D, restarts}) -> io_lib:format("~ts restarts", [D]);
counter_name({D, Point, dropped}) -> io_lib:format("~ts ~ts refused (busy)", [D, Point]);
counter_name({D, Point, K}) -> io_lib:format("~ts ~ts ~ts", [D, Point, K]).

md_table(Header, Rows) ->
    [row_md(Header), row_md(["---" || _ <- Header]), [row_md(R) || R <- Rows]].

row_md(Cells) -> ["| ", lists:join(" | ", [md_escape(C) || C <- Cells]), " |\n"].

md_escape(C) -> string:replace(lists:flatten(io_lib:format("~ts", [C])), "|", "\\|", all).

%%====================================================================
%% SVG
%%====================================================================

-define(W, 980).
-define(LEFT, 300).
-define(RIGHT, 90).
-define(BAR, 9).

svg(Runs) ->
    Default = rows_of(default, Runs),
    Off = rows_of(sbwt_none, Runs),
    Groups1 = [{group_label(R), [{N, get(Default, H, T, b2b, N, calls_per_s)} || N <- [1, 8, 64]]}
               || R = #{hook := H, transport := T, procs := 1, variant := b2b} <- Default,
                  not is_map_key(skip, R)]
        ++ [{"client.connected · through the handler",
             [{N, get(Default, connected, cast, b2b, N, sustained_per_s)} || N <- [1, 8, 64]]},
            {"client.connected · Port, through the handler",
             [{N, get(Default, connected, port, b2b, N, sustained_per_s)} || N <- [1, 8, 64]]}]
        ++ [{"client.connected · Java, through the handler",
             [{N, get(Default, connected, java, b2b, N, sustained_per_s)} || N <- [1, 8, 64]]}
            || find(Default, connected, java, b2b, 1) =/= none],
    Regimes = [{"back to back", Default, b2b}, {"sparse", Default, sparse},
               {"back to back, busy-wait off", Off, b2b}, {"sparse, busy-wait off", Off, sparse}],
    Groups2 = [{group_label(R), [{Name, get(Rows, H, T, V, 1, p50_us)} || {Name, Rows, V} <- Regimes]}
               || R = #{hook := H, transport := T, procs := 1, variant := sparse} <- Default,
                  not is_map_key(skip, R)],
    {Panel1, H1} = panel("Calls per second, back to back, default VM (log scale)",
                         [{1, "1 caller", "#4e79a7"}, {8, "8 callers", "#f28e2b"}, {64, "64 callers", "#59a14f"}],
                         Groups1, 40, fun rate/1),
    {Panel2, H2} = panel("p50 latency µs, 1 caller, by regime (log scale)",
                         [{N, N, C} || {N, C} <- lists:zip([N || {N, _, _} <- Regimes],
                                                             ["#4e79a7", "#e15759", "#76b7b2", "#b07aa1"])],
                         Groups2, 40 + H1 + 30, fun(V) -> num(V) end),
    Height = 40 + H1 + 30 + H2 + 20,
    unicode:characters_to_binary(
      [io_lib:format("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"~b\" height=\"~b\" "
                     "font-family=\"sans-serif\" font-size=\"11\">\n", [?W, Height]),
       io_lib:format("<rect width=\"~b\" height=\"~b\" fill=\"white\"/>\n", [?W, Height]),
       "<text x=\"10\" y=\"22\" font-size=\"15\" font-weight=\"bold\">emqx_extension_hook: hook callbacks, "
       "NIF modes vs the Port transport and the floors</text>\n",
       Panel1, Panel2, "</svg>\n"]).

group_label(#{hook_label := H} = R) ->
    [binary_to_list(H), " · ", transport_label(R)].

%% Horizontal bars on a log axis: one group per case, one bar per series.
panel(Title, Series, Groups, Y0, Fmt) ->
    Values = [V || {_, Vs} <- Groups, {_, V} <- Vs, is_number(V), V > 0],
    {Lo, Hi} = case Values of
                   [] -> {1, 10};
                   _ -> {math:pow(10, floor(math:log10(lists:min(Values)))),
                         math:pow(10, ceil(math:log10(lists:max(Values)) + 0.0001))}
               end,
    PlotW = ?W - ?LEFT - ?RIGHT,
    X = fun(V) -> ?LEFT + PlotW * (math:log10(V) - math:log10(Lo)) / (math:log10(Hi) - math:log10(Lo)) end,
    GroupH = length(Series) * ?BAR + 8,
    Top = Y0 + 36,
    PlotH = length(Groups) * GroupH,
    Decades = lists:seq(round(math:log10(Lo)), round(math:log10(Hi))),
    Axis = [[io_lib:format("<line x1=\"~.1f\" y1=\"~b\" x2=\"~.1f\" y2=\"~b\" stroke=\"#ddd\"/>\n",
                           [X(math:pow(10, D)), Top - 4, X(math:pow(10, D)), Top + PlotH]),
             io_lib:format("<text x=\"~.1f\" y=\"~b\" text-anchor=\"middle\" fill=\"#555\">~ts</text>\n",
                           [X(math:pow(10, D)), Top + PlotH + 14, Fmt(math:pow(10, D))])]
            || D <- Decades],
    %% Each legend entry as wide as its label (about 6 px a character).
    {Legend, _} = lists:mapfoldl(
                    fun({_, Name, Color}, LX) ->
                            {io_lib:format("<rect x=\"~b\" y=\"~b\" width=\"10\" height=\"10\" fill=\"~ts\"/>"
                                           "<text x=\"~b\" y=\"~b\">~ts</text>\n",
                                           [LX, Y0 + 14, Color, LX + 14, Y0 + 23, esc(Name)]),
                             LX + 14 + 6 * string:length(lists:flatten(io_lib:format("~ts", [Name]))) + 24}
                    end, ?LEFT, Series),
    Bars = [begin
                GY = Top + GI * GroupH,
                [io_lib:format("<text x=\"~b\" y=\"~b\" text-anchor=\"end\">~ts</text>\n",
                               [?LEFT - 6, GY + GroupH div 2 + 3, esc(Label)]),
                 [case proplists:get_value(Key, Vs) of
                      V when is_number(V), V > 0 ->
                          BY = GY + SI * ?BAR,
                          io_lib:format("<rect x=\"~b\" y=\"~b\" width=\"~.1f\" height=\"~b\" fill=\"~ts\"/>"
                                        "<text x=\"~.1f\" y=\"~b\" font-size=\"9\" fill=\"#333\">~ts</text>\n",
                                        [?LEFT, BY, max(1.0, X(V) - ?LEFT), ?BAR - 1, Color,
                                         X(V) + 3, BY + ?BAR - 1, esc(lists:flatten(Fmt(V)))]);
                      _ -> ""
                  end || {SI, {Key, _, Color}} <- lists:zip(lists:seq(0, length(Series) - 1), Series)]]
            end || {GI, {Label, Vs}} <- lists:zip(lists:seq(0, length(Groups) - 1), Groups)],
    Head = io_lib:format("<text x=\"10\" y=\"~b\" font-size=\"13\" font-weight=\"bold\">~ts</text>\n",
                         [Y0 + 10, esc(Title)]),
    {[Head, Legend, Axis, Bars], 36 + PlotH + 20}.

esc(S) ->
    lists:flatmap(fun($<) -> "&lt;"; ($>) -> "&gt;"; ($&) -> "&amp;"; (C) -> [C] end,
                  unicode:characters_to_list(lists:flatten(io_lib:format("~ts", [S])))).

%%====================================================================
%% Numbers
%%====================================================================

rate(X) when X >= 1.0e6 -> io_lib:format("~.2f M", [X / 1.0e6]);
rate(X) when X >= 1.0e3 -> io_lib:format("~.1f k", [X / 1.0e3]);
rate(X) -> integer_to_list(round(X)).

us(X) when X >= 100 -> integer_to_list(round(X));
us(X) when X >= 10 -> io_lib:format("~.1f", [X * 1.0]);
us(X) -> io_lib:format("~.2f", [X * 1.0]).

num(X) when X >= 100 -> integer_to_list(round(X));
num(X) when X >= 10 -> io_lib:format("~.1f", [X * 1.0]);
num(X) when X >= 1 -> io_lib:format("~.2f", [X * 1.0]);
num(X) -> io_lib:format("~.3f", [X * 1.0]).

ratio(X) when X >= 10 -> integer_to_list(round(X));
ratio(X) when X >= 1 -> io_lib:format("~.1f", [X]);
ratio(X) when X >= 0.01 -> io_lib:format("~.2f", [X]);
ratio(X) when X > 0 -> io_lib:format("1/~b", [round(1 / X)]);
ratio(X) -> io_lib:format("~.2f", [X]).

signed(X) when X >= 0 -> [$+ | us(X)];
signed(X) -> [$- | us(-X)].

pct(X) -> io_lib:format("~b %", [round(X * 100)]).
