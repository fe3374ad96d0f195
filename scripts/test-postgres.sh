#!/usr/bin/env bash
# A throwaway PostgreSQL server for tests and benchmarks: a new directory
# under /tmp holds its data and its Unix socket; it listens on nothing else
# (no TCP port to collide with anyone's). PostgreSQL refuses to run as root:
# as root the server runs as the `postgres` user (runuser).
#
#   test-postgres.sh new [--durable]  create and start one; prints its directory
#                                     (fsync is off unless --durable)
#   test-postgres.sh url DIR          its connection string
#   test-postgres.sh stop DIR         stop it (fast shutdown: sessions are cut)
#   test-postgres.sh start DIR        start it again (if it is not running)
#   test-postgres.sh remove DIR       stop it and delete the directory
set -euo pipefail

die() { echo "test-postgres.sh: $*" >&2; exit 1; }

bindir() {
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4 -V -r); do
    if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then echo "$d"; return; fi
  done
  die "PostgreSQL server programs not found (/usr/lib/postgresql/*/bin/initdb); scripts/install-deps.sh installs them"
}

# Runs a server program as a user PostgreSQL accepts.
as_server() {
  if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || die "running as root and there is no postgres user to run the server as"
    command -v runuser >/dev/null 2>&1 || die "running as root and runuser is missing"
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

checked_dir() {
  [ -n "${1:-}" ] && [ -f "$1/data/PG_VERSION" ] || die "not a server directory: ${1:-(none)}"
  echo "$1"
}

start() {
  local dir=$1
  as_server "$(bindir)/pg_ctl" -D "$dir/data" status >/dev/null 2>&1 && return 0
  as_server "$(bindir)/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null ||
    { cat "$dir/server.log" >&2; die "the server did not start"; }
}

stop() {
  local dir=$1
  if as_server "$(bindir)/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    as_server "$(bindir)/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null
  fi
}

case "${1:-}" in
  new)
    durable=no
    [ "${2:-}" = "--durable" ] && durable=yes
    bin=$(bindir)
    dir=$(mktemp -d /tmp/exhook-pg.XXXXXX)
    [ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
    if ! as_server "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --no-sync \
        >"$dir/initdb.log" 2>&1; then
      cat "$dir/initdb.log" >&2
      rm -rf "$dir"
      die "initdb failed"
    fi
    {
      echo "listen_addresses = ''"
      echo "unix_socket_directories = '$dir'"
      echo "max_connections = 100"
      [ "$durable" = yes ] || echo "fsync = off"
    } >>"$dir/data/postgresql.conf"
    start "$dir"
    echo "$dir"
    ;;
  url)
    dir=$(checked_dir "${2:-}")
    echo "host=$dir user=postgres dbname=postgres"
    ;;
  stop) stop "$(checked_dir "${2:-}")" ;;
  start) start "$(checked_dir "${2:-}")" ;;
  remove)
    dir=$(checked_dir "${2:-}")
    stop "$dir"
    rm -rf "$dir"
    ;;
  *) die "usage: test-postgres.sh new [--durable] | url DIR | stop DIR | start DIR | remove DIR" ;;
esac
