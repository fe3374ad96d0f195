#!/usr/bin/env bash
# The main job: builds everything (done by `make demo` before this), then
# either installs the plugin into the EMQX 4.4 at $EMQX_HOME, or runs an
# Erlang node with the plugin and replays a client session through the
# example handler (a) and through the article's Python hooks.py, printing
# each hook and the two decisions side by side.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
lib="$root/erlang/priv/libemqx_example_custom_hook.so"

if [ -n "${EMQX_HOME:-}" ]; then
  if [ ! -x "$EMQX_HOME/bin/emqx_ctl" ] || [ ! -d "$EMQX_HOME/etc/plugins" ]; then
    echo "EMQX_HOME=$EMQX_HOME does not look like an EMQX 4.4 release (no bin/emqx_ctl, etc/plugins)" >&2
    exit 1
  fi
  make -s plugin-dir
  target="$EMQX_HOME/etc/plugins/emqx_extension_hook"
  rm -rf "$target"
  cp -r _build/plugin/emqx_extension_hook "$target"
  echo "Installed the plugin into $target"
  echo "Enable a driver in $target/etc/emqx_extension_hook.conf, restart EMQX (plugins are scanned at boot), then:"
  echo "  $EMQX_HOME/bin/emqx_ctl plugins load emqx_extension_hook"
  echo "  $EMQX_HOME/bin/emqx_ctl exhook drivers list"
  exit 0
fi

demo_ebin="$root/_build/demo/ebin"
mkdir -p "$demo_ebin"
erlc -o "$demo_ebin" tests/emqx.erl tests/emqx_hooks.erl tests/emqx_ctl.erl tests/emqx_metrics.erl \
  tests/exhook_broker.erl tests/emqx_plugins.erl tests/exhook_samples.erl scripts/exhook_demo.erl
# The article's layout, under _build/demo as the release root: its hooks.py
# (the PyPI SDK's example, unchanged) in data/extension/, the SDK installed
# into a virtual environment (_build/pyvenv, by scripts/python-venv.sh).
scripts/python-venv.sh
mkdir -p _build/demo/data/extension
cp native/python/tests/fixtures/custom_hook/hooks.py _build/demo/data/extension/hooks.py
cd _build/demo
exec erl -noshell -pa "$root/_build/default/lib/emqx_extension_hook/ebin" -pa "$demo_ebin" \
  -kernel logger_level warning -run exhook_demo main "$lib" "$root/_build/pyvenv"
