#!/usr/bin/env bash
# The notification path, this tree against another commit in one VM
# (bench/exhook_notify_bench.erl): the bench handler library built from
# both, each its own driver, measured in alternating rounds.
#
#   bench/notify-ab.sh [BASE_REF [EVENTS [ROUNDS]]]   # make bench-notify
#
# The base is built from `git archive BASE_REF` in bench/_build/notify-base
# with a target directory of its own (the first build compiles the
# dependencies too); this tree's library is target/release's.
set -euo pipefail

BASE_REF=${1:-main}
EVENTS=${2:-200000}
ROUNDS=${3:-5}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
BUILD=bench/_build
BASE_SRC=$BUILD/notify-base
APP_EBIN=_build/default/lib/emqx_extension_hook/ebin
SAMPLES=$ROOT/native/emqx-extension-sdk/samples/emqx-4.4.19-hook-samples.txt

echo "== base: $BASE_REF ($(git rev-parse --short "$BASE_REF"))"
rm -rf "$BASE_SRC"
mkdir -p "$BASE_SRC"
git archive "$BASE_REF" | tar -x -C "$BASE_SRC"
cargo build --release -p emqx-bench-handler --manifest-path "$BASE_SRC/Cargo.toml" \
  --target-dir "$BUILD/notify-base-target"
cp "$BUILD/notify-base-target/release/libemqx_bench_handler.so" "$BUILD/notify-base.so"
echo "== this tree ($(git rev-parse --short HEAD)$(git diff --quiet HEAD -- native bench || echo ', modified'))"
cargo build --release -p emqx-bench-handler
cp target/release/libemqx_bench_handler.so "$BUILD/notify-new.so"
rebar3 compile
mkdir -p "$BUILD/ebin"
erlc -o "$BUILD/ebin" bench/exhook_notify_bench.erl bench/exhook_bench.erl bench/emqx_metrics.erl
erl -noshell -pa "$BUILD/ebin" -pa "$APP_EBIN" -run exhook_notify_bench main "$SAMPLES" \
  "$EVENTS" "$ROUNDS" "base=$ROOT/$BUILD/notify-base.so" "new=$ROOT/$BUILD/notify-new.so"
