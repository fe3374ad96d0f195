#!/usr/bin/env bash
# The benchmark of issue 5: builds everything in release mode, measures
# the plugin's hook callbacks in two VMs (default scheduler busy-waiting,
# then busy-waiting off), and writes the table and the chart.
#
#   bench/run.sh full    # make bench:       bench/results/latest.{md,svg}, about 4 minutes
#   bench/run.sh smoke   # make bench-smoke: bench/_build/smoke.{md,svg}, about half a minute
#
# Raw rows of each VM run are kept in bench/_build/.
set -euo pipefail

PROFILE=${1:-full}
case "$PROFILE" in
  full) OUT=bench/results/latest ;;
  # The smoke run (CI, make test) keeps the committed results untouched.
  smoke) OUT=bench/_build/smoke ;;
  *) echo "usage: $0 full|smoke" >&2; exit 2 ;;
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
# the plugin's SDK, the examples and both bench crates) and compiles the
# OTP application.
echo "== build (release)"
rebar3 compile
# rustler emits the `nif_init` symbol only for a primary package of the
# cargo invocation; --workspace makes every member one. Check it.
if ! nm -D --defined-only "$EMPTY_NIF" | grep -qw nif_init; then
  echo "$EMPTY_NIF has no nif_init symbol; rebuilding it as the primary package" >&2
  RUSTLER_PRIMARY_NIF_INIT=1 cargo build --release -p emqx-bench-empty-nif
fi
# The Python rows' virtual environment with the PyPI SDK (idempotent).
scripts/python-venv.sh
mkdir -p "$EBIN" bench/results
erlc -o "$EBIN" bench/*.erl

ERL=(erl -noshell -pa "$EBIN" -pa "$APP_EBIN")
"${ERL[@]}" -run exhook_bench main "$PROFILE" default \
  "$BUILD/$PROFILE-default.eterm" "$HANDLER" "$EMPTY_NIF" "$SAMPLES" "$ROOT"
"${ERL[@]}" +sbwt none +sbwtdcpu none +sbwtdio none -run exhook_bench main "$PROFILE" sbwt_none \
  "$BUILD/$PROFILE-sbwt_none.eterm" "$HANDLER" "$EMPTY_NIF" "$SAMPLES" "$ROOT"

ELAPSED=$(( $(date +%s) - START ))
"${ERL[@]}" -run exhook_bench_report main "$OUT" "$COMMAND" "$ELAPSED" \
  "$BUILD/$PROFILE-default.eterm" "$BUILD/$PROFILE-sbwt_none.eterm"
