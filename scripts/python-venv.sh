#!/usr/bin/env bash
# Creates _build/pyvenv: a virtual environment of Debian's python3 (the one
# the python3 driver's library is built against) with the PyPI SDK the
# driver's tests run unchanged (emqx-extension-sdk 0.2), argon2-cffi (the
# Python database example verifies the Rust example's Argon2id hashes with
# it; libargon2 in a prebuilt wheel) and pytest.
# Idempotent: does nothing when the environment has these already.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=_build/pyvenv
python=/usr/bin/python3
requirements="emqx-extension-sdk==0.2 argon2-cffi==25.1.0 pytest>=7,<9"
stamp="$venv/.requirements"
if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$requirements" ]; then
  exit 0
fi
rm -rf "$venv"
mkdir -p _build
"$python" -m venv "$venv"
# shellcheck disable=SC2086 # one argument per requirement
"$venv/bin/pip" install --quiet --disable-pip-version-check $requirements
echo "$requirements" > "$stamp"
echo "python venv: $venv ($requirements)"
