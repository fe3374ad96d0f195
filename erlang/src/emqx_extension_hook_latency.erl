%% @doc Latency histograms, one per hook, lock-free on `counters': for the
%% Port transport's calls, timed in the caller (the NIF transport's are
%% kept by the SDK). Log-linear buckets of microseconds, four per power of
%% two (a percentile is off by at most a quarter), up to about 17 s.
-module(emqx_extension_hook_latency).

-export([new/0, record/3, quantile/3]).

-define(HOOKS, 19).
-define(SUB, 4).
-define(SUB_BITS, 2).
-define(MAX_EXP, 24).
-define(BUCKETS, (?SUB + (?MAX_EXP - ?SUB_BITS) * ?SUB)).

-opaque histograms() :: counters:counters_ref().
-export_type([histograms/0]).

%% @doc Empty histograms for the 19 hooks.
-spec new() -> histograms().
new() ->
    counters:new(?HOOKS * ?BUCKETS, [write_concurrency]).

%% @doc Counts one call of hook `Index' that took `Micros'.
-spec record(histograms(), 0..18, non_neg_integer()) -> ok.
record(H, Index, Micros) ->
    counters:add(H, Index * ?BUCKETS + bucket(Micros) + 1, 1).

%% @doc The `Q' quantile (0..1) of hook `Index''s calls, in microseconds;
%% 0.0 when none was counted.
-spec quantile(histograms(), 0..18, float()) -> float().
quantile(H, Index, Q) ->
    Counts = [counters:get(H, Index * ?BUCKETS + B + 1) || B <- lists:seq(0, ?BUCKETS - 1)],
    case lists:sum(Counts) of
        0 -> 0.0;
        Total -> find(Counts, 0, 0, max(1, ceil(Q * Total)))
    end.

find([C | _], B, Seen, Rank) when Seen + C >= Rank -> mid(B);
find([C | Rest], B, Seen, Rank) -> find(Rest, B + 1, Seen + C, Rank);
find([], B, _Seen, _Rank) -> mid(B - 1).

bucket(Micros) when Micros < ?SUB -> Micros;
bucket(Micros) ->
    Exp = bits(Micros) - 1,
    case Exp >= ?MAX_EXP of
        true -> ?BUCKETS - 1;
        false ->
            Sub = (Micros bsr (Exp - ?SUB_BITS)) band (?SUB - 1),
            ?SUB + (Exp - ?SUB_BITS) * ?SUB + Sub
    end.

%% The middle of bucket `B', in microseconds.
mid(B) when B < ?SUB -> float(B);
mid(B) ->
    Exp = (B - ?SUB) div ?SUB + ?SUB_BITS,
    Sub = (B - ?SUB) rem ?SUB,
    Width = 1 bsl (Exp - ?SUB_BITS),
    float(((?SUB + Sub) bsl (Exp - ?SUB_BITS)) + Width / 2).

bits(0) -> 0;
bits(N) -> 1 + bits(N bsr 1).
