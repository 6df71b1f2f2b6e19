#!/usr/bin/env bash
# Make sure PostgreSQL and RabbitMQ answer on 127.0.0.1 (or on the SIMASN_* URLs given).
#   scripts/infra.sh ensure   use running servers; else start the machine's own clusters;
#                             else start private instances under .run/ from local binaries;
#                             else say exactly what to install. A PostgreSQL of this machine
#                             allowing fewer than 400 connections is raised to 400 (restart).
#   scripts/infra.sh browser  make sure the Chromium the browser tests drive is installed
#                             ($SIMASN_CHROMIUM, default /usr/bin/chromium: Debian's `chromium`
#                             package, installed with apt-get when missing and we are root)
#   scripts/infra.sh stop     stop private instances started under .run/ (never system ones)
set -euo pipefail
cd "$(dirname "$0")/.."
RUN_DIR="$PWD/.run"
PG_HOST=127.0.0.1; PG_PORT=${SIMASN_PG_PORT:-5432}
RABBIT_PORT=${SIMASN_RABBIT_PORT:-5672}; RABBIT_MGMT_PORT=${SIMASN_RABBIT_MGMT_PORT:-15672}

say() { printf '[infra] %s\n' "$*" >&2; }

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

wait_port() {  # host port seconds
  local i
  for ((i = 0; i < $3 * 10; i++)); do port_open "$1" "$2" && return 0; sleep 0.1; done
  return 1
}

pg_bin() {
  local d
  for d in /usr/lib/postgresql/*/bin; do [ -x "$d/pg_ctl" ] && { echo "$d"; return 0; }; done
  command -v pg_ctl >/dev/null && { dirname "$(command -v pg_ctl)"; return 0; }
  return 1
}

ensure_postgres() {
  if port_open $PG_HOST "$PG_PORT"; then say "PostgreSQL answers on $PG_HOST:$PG_PORT"; return; fi
  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ] && [ -n "$(ls /etc/postgresql 2>/dev/null)" ]; then
    local v; v=$(ls /etc/postgresql | sort -V | tail -1)
    say "starting the machine's PostgreSQL $v cluster"
    pg_ctlcluster --skip-systemctl-redirect "$v" main start || true
    wait_port $PG_HOST "$PG_PORT" 30 && return
  fi
  local bin; bin=$(pg_bin) || {
    say "PostgreSQL is not running and no server is installed."
    say "Install it: apt-get install postgresql-15   (or brew install postgresql@15), then re-run."
    exit 1; }
  local data="$RUN_DIR/pg/data"; mkdir -p "$RUN_DIR/pg"
  local as=(); if [ "$(id -u)" = 0 ]; then chown -R postgres "$RUN_DIR/pg"; as=(runuser -u postgres --); fi
  if [ ! -f "$data/PG_VERSION" ]; then
    say "initialising a private PostgreSQL in $data"
    "${as[@]}" "$bin/initdb" -D "$data" -U postgres --auth=trust >/dev/null
  fi
  say "starting a private PostgreSQL on $PG_HOST:$PG_PORT"
  "${as[@]}" "$bin/pg_ctl" -D "$data" -l "$RUN_DIR/pg/server.log" -w \
    -o "-p $PG_PORT -k $RUN_DIR/pg -c listen_addresses=$PG_HOST" start >/dev/null
  wait_port $PG_HOST "$PG_PORT" 30 || { say "PostgreSQL did not start; see $RUN_DIR/pg/server.log"; exit 1; }
}

# The suite holds up to about 250 connections at once (scripts/test.sh: two parts and the
# browser tests side by side, up to three stacks of ten processes among them); PostgreSQL's
# default maximum is 100. A server of this machine's own (its cluster, or our private one) is raised to
# MIN_CONNECTIONS and restarted once; any other server is only warned about.
MIN_CONNECTIONS=${SIMASN_PG_MIN_CONNECTIONS:-400}

pg_sql() {
  local psql=psql; command -v psql >/dev/null || psql="$(pg_bin)/psql"
  "$psql" -h $PG_HOST -p "$PG_PORT" -U postgres -d postgres -Atqc "$1"
}

ensure_pg_connections() {
  local have; have=$(pg_sql "SHOW max_connections" 2>/dev/null) || {
    say "could not read max_connections (psql missing?); the suite needs $MIN_CONNECTIONS"; return; }
  [ "$have" -ge "$MIN_CONNECTIONS" ] && return
  if [ -f "$RUN_DIR/pg/data/postmaster.pid" ]; then
    local bin; bin=$(pg_bin); local as=(); [ "$(id -u)" = 0 ] && as=(runuser -u postgres --)
    say "raising the private PostgreSQL's max_connections from $have to $MIN_CONNECTIONS (restart)"
    pg_sql "ALTER SYSTEM SET max_connections = $MIN_CONNECTIONS" >/dev/null
    "${as[@]}" "$bin/pg_ctl" -D "$RUN_DIR/pg/data" -w restart >/dev/null
  elif command -v pg_ctlcluster >/dev/null && [ -n "$(ls /etc/postgresql 2>/dev/null)" ] \
      && [ "$PG_HOST:$PG_PORT" = "127.0.0.1:5432" ]; then
    local v; v=$(ls /etc/postgresql | sort -V | tail -1)
    say "raising this machine's PostgreSQL $v max_connections from $have to $MIN_CONNECTIONS (restart)"
    pg_sql "ALTER SYSTEM SET max_connections = $MIN_CONNECTIONS" >/dev/null
    pg_ctlcluster --skip-systemctl-redirect "$v" main restart
  else
    say "PostgreSQL on $PG_HOST:$PG_PORT allows $have connections; the suite needs about 150:"
    say "set max_connections = $MIN_CONNECTIONS there, or tests may fail with 'too many clients'"
    return
  fi
  wait_port $PG_HOST "$PG_PORT" 30 || { say "PostgreSQL did not come back after the restart"; exit 1; }
  say "PostgreSQL allows $(pg_sql "SHOW max_connections") connections"
}

ensure_rabbit() {
  if ! port_open 127.0.0.1 "$RABBIT_PORT"; then
    command -v rabbitmq-server >/dev/null || {
      say "RabbitMQ is not running and not installed."
      say "Install it: apt-get install rabbitmq-server   (or brew install rabbitmq), then re-run."
      exit 1; }
    if [ "$(id -u)" = 0 ] && [ -d /var/lib/rabbitmq ]; then
      say "starting the machine's RabbitMQ"
      rabbitmq-server -detached || true
    else
      say "starting a private RabbitMQ under $RUN_DIR/rabbit"
      mkdir -p "$RUN_DIR/rabbit"
      RABBITMQ_MNESIA_BASE="$RUN_DIR/rabbit/mnesia" RABBITMQ_LOG_BASE="$RUN_DIR/rabbit/log" \
        RABBITMQ_ENABLED_PLUGINS_FILE="$RUN_DIR/rabbit/enabled_plugins" \
        RABBITMQ_NODENAME="simasn@localhost" rabbitmq-server -detached
    fi
    wait_port 127.0.0.1 "$RABBIT_PORT" 60 || { say "RabbitMQ did not start"; exit 1; }
  fi
  say "RabbitMQ answers on 127.0.0.1:$RABBIT_PORT"
  if ! port_open 127.0.0.1 "$RABBIT_MGMT_PORT"; then
    say "enabling the RabbitMQ management plugin (test vhosts are made through it)"
    rabbitmq-plugins enable rabbitmq_management >/dev/null
    wait_port 127.0.0.1 "$RABBIT_MGMT_PORT" 60 || { say "management API did not come up"; exit 1; }
  fi
}

ensure_chromium() {
  local bin=${SIMASN_CHROMIUM:-/usr/bin/chromium}
  if [ -x "$bin" ]; then return; fi
  if [ -n "${SIMASN_CHROMIUM:-}" ]; then
    say "SIMASN_CHROMIUM=$bin is not an executable file"; exit 1
  fi
  local apt=(apt-get -y -qq -o DPkg::Lock::Timeout=300)
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then apt=(sudo -n "${apt[@]}")
    else
      say "the browser tests need Chromium at /usr/bin/chromium, and installing it needs root."
      say "Install it: sudo apt-get install --no-install-recommends chromium   (or point"
      say "SIMASN_CHROMIUM at a Chromium/Chrome executable), then re-run."
      exit 1
    fi
  fi
  command -v apt-get >/dev/null || {
    say "the browser tests need Chromium; this machine has no apt-get: install Chromium and set"
    say "SIMASN_CHROMIUM to its executable, then re-run."
    exit 1; }
  local log; log=$(mktemp); local updated=0
  export DEBIAN_FRONTEND=noninteractive
  say "installing Debian's chromium package for the browser tests (once per machine)"
  # the package lists are fetched only when they do not know chromium yet, or when an install
  # from them fails (a stale list names a version the mirror no longer has)
  if ! apt-cache policy chromium 2>/dev/null | grep -q 'Candidate: [0-9]'; then
    "${apt[@]}" update >"$log" 2>&1 || { say "apt-get update failed:"; cat "$log" >&2; exit 1; }
    updated=1
  fi
  if ! "${apt[@]}" install --no-install-recommends chromium >>"$log" 2>&1; then
    if [ $updated = 0 ]; then
      "${apt[@]}" update >>"$log" 2>&1 && "${apt[@]}" install --no-install-recommends chromium >>"$log" 2>&1
    else false; fi || {
      say "apt-get install chromium failed (the browser tests cannot run without it):"
      tail -n 30 "$log" >&2; exit 1; }
  fi
  rm -f "$log"
  [ -x "$bin" ] || { say "chromium was installed but $bin is missing"; exit 1; }
  say "$("$bin" --version 2>/dev/null | head -1) installed at $bin"
}

stop_private() {
  local bin
  if [ -f "$RUN_DIR/pg/data/postmaster.pid" ] && bin=$(pg_bin); then
    local as=(); [ "$(id -u)" = 0 ] && as=(runuser -u postgres --)
    "${as[@]}" "$bin/pg_ctl" -D "$RUN_DIR/pg/data" -m fast stop || true
  fi
  if [ -d "$RUN_DIR/rabbit" ]; then
    RABBITMQ_NODENAME="simasn@localhost" rabbitmqctl -n simasn@localhost stop 2>/dev/null || true
  fi
}

case "${1:-ensure}" in
  ensure) ensure_postgres; ensure_pg_connections; ensure_rabbit ;;
  browser) ensure_chromium ;;
  stop) stop_private ;;
  *) echo "usage: $0 ensure|browser|stop" >&2; exit 2 ;;
esac
