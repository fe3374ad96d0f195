#!/usr/bin/env bash
# Installs what this project needs beyond Rust: Erlang/OTP, rebar3 and
# PostgreSQL (the database example's tests start a server of their own)
# from Debian's packages, the JDK and JUnit for the Java SDK (java/),
# Debian's Python headers and venv module (the python3 driver's library is
# built against /usr/bin/python3), the rustfmt and clippy components, and
# _build/pyvenv: a virtual environment with the PyPI SDK
# (emqx-extension-sdk 0.2) the python3 driver's tests and the demo run
# unchanged, and argon2-cffi for the Python database example
# (scripts/python-venv.sh).
set -euo pipefail
missing=()
command -v erl >/dev/null 2>&1 || missing+=(erlang)
command -v rebar3 >/dev/null 2>&1 || missing+=(rebar3)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
command -v javac >/dev/null 2>&1 || missing+=(openjdk-17-jdk-headless)
[ -f /usr/share/java/junit-platform-console-standalone.jar ] || missing+=(junit5)
for pkg in python3-dev python3-venv; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
for component in rustfmt clippy; do
  rustup component list --installed 2>/dev/null | grep -q "^$component" || rustup component add "$component" >/dev/null 2>&1 || true
done
"$(dirname "$0")/python-venv.sh"
