#!/usr/bin/env bash
# The benchmark: builds everything in release mode, measures the plugin's
# hook callbacks in two VMs (default scheduler busy-waiting, then
# busy-waiting off), the saturated broker in a third, runs the database
# example's benchmark and the Python one's, and writes one report (tables,
# goals, chart) from what this run measured.
#
#   bench/run.sh full    # make bench:       bench/results/latest.{md,svg}, about 10 minutes
#   bench/run.sh smoke   # make bench-smoke: bench/_build/smoke.{md,svg}, about a minute
#   bench/run.sh java    # make bench-java:  bench/_build/java.{md,svg}, the Java rows and
#                        #                   their Port baseline alone (default VM only)
#
# Raw rows of each VM run are kept in bench/_build/.
set -euo pipefail

PROFILE=${1:-full}
case "$PROFILE" in
  full) OUT=bench/results/latest ;;
  # The smoke run (CI, make test) keeps the committed results untouched.
  smoke) OUT=bench/_build/smoke ;;
  java) OUT=bench/_build/java ;;
  *) echo "usage: $0 full|smoke|java" >&2; exit 2 ;;
esac
COMMAND=${BENCH_COMMAND:-bench/run.sh $PROFILE}

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
BUILD=bench/_build
EBIN=$BUILD/ebin
APP_EBIN=_build/default/lib/emqx_extension_hook/ebin
HANDLER=$ROOT/target/release/libemqx_bench_handler.so
EMPTY_NIF=$ROOT/target/release/libemqx_bench_empty.so
SAMPLES=$ROOT/native/emqx-extension-sdk/samples/emqx-4.4.19-hook-samples.txt
START=$(date +%s)

# rebar3 compile runs `make native` (cargo build --release --workspace:
# the plugin's SDK, the examples and both bench crates; and the Java SDK)
# and compiles the OTP application.
echo "== build (release)"
rebar3 compile
# rustler emits the `nif_init` symbol only for a primary package of the
# cargo invocation; --workspace makes every member one. Check it.
if ! nm -D --defined-only "$EMPTY_NIF" | grep -qw nif_init; then
  echo "$EMPTY_NIF has no nif_init symbol; rebuilding it as the primary package" >&2
  RUSTLER_PRIMARY_NIF_INIT=1 cargo build --release -p emqx-bench-empty-nif
fi
# The Java rows' handler (bench/java), built as java/examples is.
make --no-print-directory java-bench
# The Python rows' virtual environment with the PyPI SDK (idempotent).
scripts/python-venv.sh
mkdir -p "$EBIN" bench/results
erlc -o "$EBIN" bench/*.erl

ERL=(erl -noshell -pa "$EBIN" -pa "$APP_EBIN")
RUNS=("$BUILD/$PROFILE-default.eterm")
"${ERL[@]}" -run exhook_bench main "$PROFILE" default \
  "$BUILD/$PROFILE-default.eterm" "$HANDLER" "$EMPTY_NIF" "$SAMPLES" "$ROOT"
if [ "$PROFILE" != java ]; then
  "${ERL[@]}" +sbwt none +sbwtdcpu none +sbwtdio none -run exhook_bench main "$PROFILE" sbwt_none \
    "$BUILD/$PROFILE-sbwt_none.eterm" "$HANDLER" "$EMPTY_NIF" "$SAMPLES" "$ROOT"
  RUNS+=("$BUILD/$PROFILE-sbwt_none.eterm")
  # The saturated broker (issue 12, and the logging variants of issue 13).
  "${ERL[@]}" -run exhook_bench_saturation main "$PROFILE" \
    "$BUILD/$PROFILE-saturation.eterm" "$HANDLER" "$SAMPLES"
  RUNS+=("$BUILD/$PROFILE-saturation.eterm")
  # The database example (issue 9): its own benchmark, its output kept
  # for the report as printed.
  DB_ARGS=()
  [ "$PROFILE" = smoke ] && DB_ARGS=(--quick)
  echo
  echo "== database example: target/release/exhook-db-bench ${DB_ARGS[*]:-}"
  target/release/exhook-db-bench "${DB_ARGS[@]}" | tee "$BUILD/$PROFILE-database.txt"
  RUNS+=("$BUILD/$PROFILE-database.txt")
  # The database example in Python (logins/s against the Rust example on
  # the same SQLite file, in the same run), as make bench-python-database.
  PYDB_SECONDS=1.0
  [ "$PROFILE" = smoke ] && PYDB_SECONDS=0.2
  echo
  echo "== database example in Python: exhook_pydb_bench ($PYDB_SECONDS s a measurement)"
  "${ERL[@]}" -run exhook_pydb_bench main "$ROOT" "$PYDB_SECONDS" | tee "$BUILD/$PROFILE-pydb.txt"
  RUNS+=("$BUILD/$PROFILE-pydb.txt")
fi

ELAPSED=$(( $(date +%s) - START ))
"${ERL[@]}" -run exhook_bench_report main "$OUT" "$COMMAND" "$ELAPSED" "${RUNS[@]}"
