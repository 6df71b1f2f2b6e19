#!/usr/bin/env bash
# The whole SIMASN stack on one machine, without containers.
#   scripts/stack.sh up             PostgreSQL/RabbitMQ reachable, migrations once, then a
#                                   supervisor (scripts/supervisor.py) that runs every service +
#                                   the outbox relay and restarts one that dies; wait until healthy
#   scripts/stack.sh down           stop the supervisor and what it runs (SIGTERM, then SIGKILL
#                                   after a grace period), then the private PostgreSQL/RabbitMQ
#   scripts/stack.sh status         each process running/restarting/stopped, its restarts, health
#   scripts/stack.sh logs [NAME]    follow the logs (all, or one process; `supervisor` for restarts)
#
# State lives under .run/: pids/<name>.pid, logs/<name>.log, supervisor.state.json. Running `up`
# twice starts no duplicates (a new supervisor adopts processes an earlier one left running).
# Knobs: SIMASN_DATABASE_URL, SIMASN_AMQP_URI, SIMASN_GATEWAY_ADDRESS (read by
# config.yaml), SIMASN_CONFIG (default: config.yaml), SIMASN_UP_WAIT (seconds to wait for health,
# default 60), SIMASN_STOP_GRACE (seconds between SIGTERM and SIGKILL, default 20),
# SIMASN_RUN_DIR (state directory, default .run), SIMASN_BROKER_USERS (default true: every
# process connects with its own RabbitMQ user, created by `simasn broker setup`),
# SIMASN_REPLICAS (processes per service, e.g. "records=3,requests=3,sync=3"; default
# "gateway=2": the replicas of a service are competing consumers of its queues, and the
# gateway's all listen on one port (SO_REUSEPORT, set by eventlet.listen), so a killed gateway
# is not an outage. The first process of a service is named after it, the others
# <service>-2, <service>-3 …: each has its pid file, log and restarts).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
BIN="$ROOT/.venv/bin"
RUN_DIR="${SIMASN_RUN_DIR:-$ROOT/.run}"
PID_DIR="$RUN_DIR/pids"
LOG_DIR="$RUN_DIR/logs"
export SIMASN_CONFIG="${SIMASN_CONFIG:-$ROOT/config.yaml}"
UP_WAIT="${SIMASN_UP_WAIT:-60}"
STOP_GRACE="${SIMASN_STOP_GRACE:-20}"
GATEWAY_ADDRESS="${SIMASN_GATEWAY_ADDRESS:-0.0.0.0:8000}"
GATEWAY_PORT="${GATEWAY_ADDRESS##*:}"
GATEWAY_HOST="${GATEWAY_ADDRESS%:*}"
case "$GATEWAY_HOST" in "" | 0.0.0.0 | "*") GATEWAY_HOST=127.0.0.1 ;; esac
GATEWAY_URL="http://$GATEWAY_HOST:$GATEWAY_PORT"

say() { printf '[stack] %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

need_venv() {
  [ -x "$BIN/nameko" ] && [ -x "$BIN/simasn" ] || die "no virtualenv in .venv: run 'make venv' first"
}

# The services come from shared.SERVICES (one source of truth); the relay is one more process.
services() {
  "$BIN/python" -c 'from shared import SERVICES; print(*SERVICES)'
}

# How many processes of NAME to run (SIMASN_REPLICAS, default gateway=2, others 1).
replicas_of() {
  local name=$1 entry count=1
  [ "$name" = gateway ] && count=2
  local IFS=,
  for entry in ${SIMASN_REPLICAS:-}; do
    entry=${entry// /}
    [ "${entry%%=*}" = "$name" ] || continue
    count=${entry#*=}
    [[ "$count" =~ ^[1-9][0-9]?$ ]] || die "SIMASN_REPLICAS: '$entry' needs a count 1-99"
  done
  echo "$count"
}

# The service (or relay) a process name runs: records-2 -> records.
service_of() {
  local name=$1
  [[ "$name" =~ ^(.+)-[0-9]+$ ]] && name=${BASH_REMATCH[1]}
  echo "$name"
}

all_names() {
  local list name count i out=()
  list=$(services)
  for name in $list relay; do
    count=$(replicas_of "$name")
    out+=("$name")
    for ((i = 2; i <= count; i++)); do out+=("$name-$i"); done
  done
  echo "${out[*]}"
}

# Sets CMD to the command line of NAME. services/<name>/service.py defines <Name>Service
# (records -> RecordsService).
command_for() {
  local name first
  name=$(service_of "$1")
  if [ "$name" = relay ]; then
    CMD=("$BIN/simasn" relay)
  else
    first=$(printf '%s' "${name:0:1}" | tr '[:lower:]' '[:upper:]')
    CMD=("$BIN/nameko" run --config "$SIMASN_CONFIG" "services.$name.service:$first${name:1}Service")
  fi
}

# What the command line of a live process must contain, so that a pid reused by another
# program after a crash is never taken for ours.
signature_for() {
  case "$(service_of "$1")" in
    relay) echo "simasn relay" ;;
    supervisor) echo "scripts/supervisor.py" ;;
    *) echo "services.$(service_of "$1").service:" ;;
  esac
}

pid_of() {  # prints the pid if NAME runs (as started by us); fails otherwise
  local file="$PID_DIR/$1.pid" pid
  [ -f "$file" ] || return 1
  pid=$(<"$file")
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  ps -p "$pid" -o command= 2>/dev/null | grep -qF -- "$(signature_for "$1")" || return 1
  echo "$pid"
}

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

url_part() {  # url host|port default_port
  "$BIN/python" - "$@" <<'PY'
import sys
from urllib.parse import urlsplit
url, part, default = sys.argv[1:]
parts = urlsplit(url)
print(parts.hostname or "127.0.0.1" if part == "host" else parts.port or default)
PY
}

# PostgreSQL and RabbitMQ: local ones through scripts/infra.sh (which starts them if it can);
# remote ones given by SIMASN_DATABASE_URL / SIMASN_AMQP_URI only have to answer.
ensure_infra() {
  local db_url amqp_url db_host db_port mq_host mq_port
  db_url="${SIMASN_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/simasn}"
  amqp_url="${SIMASN_AMQP_URI:-pyamqp://guest:guest@127.0.0.1:5672/}"
  db_host=$(url_part "$db_url" host 5432); db_port=$(url_part "$db_url" port 5432)
  mq_host=$(url_part "$amqp_url" host 5672); mq_port=$(url_part "$amqp_url" port 5672)
  local is_local='^(127\.0\.0\.1|localhost|::1)$'
  if [[ "$db_host" =~ $is_local ]] && [[ "$mq_host" =~ $is_local ]]; then
    SIMASN_PG_PORT="$db_port" SIMASN_RABBIT_PORT="$mq_port" scripts/infra.sh ensure
    return
  fi
  local host port host_port
  for host_port in "$db_host:$db_port" "$mq_host:$mq_port"; do
    host=${host_port%:*}; port=${host_port##*:}
    if [[ "$host" =~ $is_local ]]; then
      port_open 127.0.0.1 "$port" || die "nothing answers on 127.0.0.1:$port; run scripts/infra.sh ensure"
    else
      port_open "$host" "$port" || die "nothing answers on $host:$port (from SIMASN_DATABASE_URL/SIMASN_AMQP_URI)"
    fi
    say "$host:$port answers"
  done
}

# Sets ENV_ARGS for `env`: what NAME alone may hold. Each process gets its own broker login
# (shared/brokerauth.py) and only the caller-token key of its side (shared/callers.py): the
# gateway vouches for users, the backends for themselves, the relay for nobody.
process_env() {
  local name user password var
  name=$(service_of "$1")  # replicas of a service share its broker user
  ENV_ARGS=()
  case "$name" in
    gateway) ENV_ARGS+=(-u SIMASN_CALLER_SERVICE_KEY) ;;
    relay) ENV_ARGS+=(-u SIMASN_CALLER_SERVICE_KEY -u SIMASN_CALLER_GATEWAY_KEY) ;;
    *) ENV_ARGS+=(-u SIMASN_CALLER_GATEWAY_KEY) ;;
  esac
  [ "${SIMASN_BROKER_USERS:-true}" = true ] || return 0
  var="SIMASN_BROKER_PASSWORD_$(printf '%s' "$name" | tr '[:lower:]' '[:upper:]')"
  password="${!var:-}"
  [ -n "$password" ] || die "$var is not set (.run/secrets.env predates broker users: run 'make down', delete it, 'make up')"
  user="${SIMASN_BROKER_USER_PREFIX:-simasn-}$name"
  local admin_uri="${SIMASN_AMQP_URI:-pyamqp://guest:guest@127.0.0.1:5672/}"
  [[ "$admin_uri" =~ ^([a-z]+)://([^@/]*@)?(.*)$ ]] || die "cannot parse SIMASN_AMQP_URI"
  local uri="${BASH_REMATCH[1]}://$user:$password@${BASH_REMATCH[3]}"
  # no process holds another's broker password (`env` takes every -u before an assignment)
  for var in $(compgen -v | grep -E '^SIMASN_BROKER_PASSWORD_'); do ENV_ARGS+=(-u "$var"); done
  ENV_ARGS+=("SIMASN_AMQP_URI=$uri")
}

# The supervisor's spec: one JSON line per process: name, signature, command line, and the
# environment it runs with (process_env: variables unset, variables set). It holds the
# processes' broker passwords, like secrets.env: mode 600.
write_spec() {
  local spec=$1 name; shift
  (umask 077 && : >"$spec.tmp")
  for name in "$@"; do
    command_for "$name"
    process_env "$name"
    "$BIN/python" - "$name" "$(signature_for "$name")" "${#ENV_ARGS[@]}" "${ENV_ARGS[@]}" \
      "${CMD[@]}" >>"$spec.tmp" <<'PY'
import json, sys
name, signature, count, rest = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
env_args, argv = rest[:count], rest[count:]
unset, env, i = [], {}, 0
while i < len(env_args):  # `env` arguments: -u NAME, or NAME=value
    if env_args[i] == "-u":
        unset.append(env_args[i + 1])
        i += 2
    else:
        key, _, value = env_args[i].partition("=")
        env[key] = value
        i += 1
print(json.dumps({"name": name, "signature": signature, "argv": argv, "unset": unset,
                  "env": env}))
PY
  done
  mv "$spec.tmp" "$spec"
}

# One supervisor runs every process and starts again any that exits (backoff, logged, counted
# in .run/supervisor.state.json). A running supervisor is left alone; one started after an
# earlier supervisor died adopts the processes that one left running.
start_supervisor() {
  local pid
  if pid=$(pid_of supervisor); then
    say "supervisor already running (pid $pid)"
    return
  fi
  if pid_of gateway >/dev/null; then :; elif port_open "$GATEWAY_HOST" "$GATEWAY_PORT"; then
    die "port $GATEWAY_PORT is taken by another program; stop it or set SIMASN_GATEWAY_ADDRESS"
  fi
  write_spec "$RUN_DIR/supervisor.jsonl" "$@"
  # setsid: the supervisor leads its own group; each process it starts leads one of its own.
  # exec keeps the pid we record equal to the process's pid.
  local argv=("$BIN/python" "$ROOT/scripts/supervisor.py" --run-dir "$RUN_DIR"
              --spec "$RUN_DIR/supervisor.jsonl" --grace "$STOP_GRACE")
  if command -v setsid >/dev/null; then
    (exec setsid "${argv[@]}" >>"$LOG_DIR/supervisor.log" 2>&1 </dev/null) &
  else
    (exec "${argv[@]}" >>"$LOG_DIR/supervisor.log" 2>&1 </dev/null) &
  fi
  pid=$!
  echo "$pid" >"$PID_DIR/supervisor.pid"
  say "started the supervisor (pid $pid, log .run/logs/supervisor.log): $*"
  # its processes appear once it has started them
  local deadline=$((SECONDS + 15)) name
  for name in "$@"; do
    until pid_of "$name" >/dev/null; do
      pid_of supervisor >/dev/null || { show_log_tail supervisor; die "the supervisor stopped"; }
      [ "$SECONDS" -lt "$deadline" ] || die "the supervisor did not start $name"
      sleep 0.2
    done
  done
}

show_log_tail() {
  say "last lines of .run/logs/$1.log:"
  tail -n 20 "$LOG_DIR/$1.log" >&2 || true
}

# Ask every service's health RPC (simasn health --wait) while watching that no process died:
# a service that crashes at start is reported at once with its log, not after the full wait.
wait_healthy() {
  local names=("$@") out rc=0 health_pid name
  out=$(mktemp)
  "$BIN/simasn" health --wait "$UP_WAIT" >"$out" 2>>"$LOG_DIR/health.log" &
  health_pid=$!
  while kill -0 "$health_pid" 2>/dev/null; do
    for name in "${names[@]}"; do
      if ! pid_of "$name" >/dev/null; then
        kill "$health_pid" 2>/dev/null || true
        wait "$health_pid" 2>/dev/null || true
        rm -f "$out"
        say "$name stopped while starting"
        show_log_tail "$name"
        return 1
      fi
    done
    sleep 0.5
  done
  wait "$health_pid" || rc=$?
  if [ "$rc" != 0 ]; then
    say "not every service answered its health check within ${UP_WAIT}s:"
    cat "$out" >&2
    rm -f "$out"
    return 1
  fi
  rm -f "$out"
  say "every service answers its health RPC"
  local deadline=$((SECONDS + UP_WAIT))
  until curl -fsS --max-time 3 "$GATEWAY_URL/health" >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      say "the gateway does not answer $GATEWAY_URL/health"
      show_log_tail gateway
      return 1
    fi
    sleep 0.5
  done
  say "gateway answers $GATEWAY_URL/health"
  say "web application: open $GATEWAY_URL/ in a browser (API documentation: $GATEWAY_URL/api/docs)"
}

# Development keys for identity (token signing, TOTP secret encryption): made once, kept in
# .run/secrets.env (mode 600), exported to every process. Production takes them from a Secret.
# The same file records the signing key store's directory, so that `simasn` run by hand (which
# reads .run/secrets.env itself) finds the key store and its root certificate where we put it.
load_secrets() {
  local file="$RUN_DIR/secrets.env"
  if [ ! -s "$file" ]; then
    say "generating development keys in $file"
    (umask 077 && "$BIN/simasn" keys >"$file")
  else
    # keys added by a newer version (caller tokens, broker users) are appended, never replaced
    local fresh line; fresh=$("$BIN/simasn" keys)
    while IFS= read -r line; do
      grep -q "^${line%%=*}=" "$file" || { echo "$line" >>"$file"; say "added ${line%%=*} to $file"; }
    done <<<"$fresh"
  fi
  # The signing service's development key store (root CA, the demo administrator's certificate,
  # seal, TSA); production mounts BSrE certificates instead. A directory given in the shell
  # wins over the recorded one; the first run records the default.
  if ! grep -q '^SIMASN_SIGNING_KEYSTORE_DIR=' "$file"; then
    printf "SIMASN_SIGNING_KEYSTORE_DIR='%s'\n" "${SIMASN_SIGNING_KEYSTORE_DIR:-$RUN_DIR/keystore}" >>"$file"
  fi
  local shell_keystore="${SIMASN_SIGNING_KEYSTORE_DIR:-}"
  set -a
  # shellcheck disable=SC1090
  . "$file"
  set +a
  if [ -n "$shell_keystore" ]; then export SIMASN_SIGNING_KEYSTORE_DIR="$shell_keystore"; fi
  "$BIN/simasn" pki init --if-missing --dir "$SIMASN_SIGNING_KEYSTORE_DIR" \
    --signer "admin.bkd=Kepala BKD (demo)|Kepala Badan Kepegawaian Daerah" >&2
}

cmd_up() {
  need_venv
  mkdir -p "$PID_DIR" "$LOG_DIR"
  ensure_infra
  load_secrets
  say "applying migrations and declaring the broker topology (simasn migrate)"
  "$BIN/simasn" migrate
  if [ "${SIMASN_BROKER_USERS:-true}" = true ]; then
    say "per-process RabbitMQ users and their permissions (simasn broker setup)"
    "$BIN/simasn" broker setup >/dev/null
  fi
  local names
  read -r -a names <<<"$(all_names)"
  start_supervisor "${names[@]}"
  if ! wait_healthy "${names[@]}"; then
    say "the stack is not healthy; see 'make status' and 'make logs', stop it with 'make down'"
    exit 1
  fi
  cat <<EOF

SIMASN Jatim is up.
  Gateway (HTTP API)   $GATEWAY_URL       readiness: $GATEWAY_URL/health/ready
  Status               make status
  Logs                 make logs            (one process: make logs S=records)
  Stop                 make down
EOF
}

stop_pids() {  # signal name... ; prints nothing, returns after signalling
  local sig=$1; shift
  local name pid
  for name in "$@"; do
    pid=$(pid_of "$name") || continue
    # The process leads its own group (setsid) when its pgid equals its pid.
    if [ "$(ps -p "$pid" -o pgid= | tr -d ' ')" = "$pid" ]; then
      kill "-$sig" -- "-$pid" 2>/dev/null || true
    else
      kill "-$sig" "$pid" 2>/dev/null || true
    fi
  done
}

# The supervisor first: it must not start again what is being stopped. It stops its processes
# itself (SIGTERM, SIGKILL after the grace period); what is left after it is stopped below.
stop_supervisor() {
  local pid deadline
  pid=$(pid_of supervisor) || return 0
  say "stopping the supervisor (pid $pid) and what it runs"
  kill -TERM "$pid" 2>/dev/null || true
  deadline=$((SECONDS + STOP_GRACE + 10))
  while pid_of supervisor >/dev/null; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      say "the supervisor did not stop within $((STOP_GRACE + 10))s, killing it"
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.2
  done
}

cmd_down() {
  local names=() name running=()
  stop_supervisor
  if [ -x "$BIN/python" ]; then
    read -r -a names <<<"$(all_names)"
  fi
  # Names of pid files too, so a process of a service since removed is still stopped.
  if [ -d "$PID_DIR" ]; then
    for file in "$PID_DIR"/*.pid; do
      [ -e "$file" ] || continue
      name=$(basename "$file" .pid)
      [[ " ${names[*]} " == *" $name "* ]] || names+=("$name")
    done
  fi
  # The gateway first (no new requests), the relay and the services after it.
  local ordered=()
  for name in "${names[@]}"; do [ "$(service_of "$name")" = gateway ] && ordered+=("$name"); done
  for name in "${names[@]}"; do [ "$(service_of "$name")" = gateway ] || ordered+=("$name"); done
  for name in "${ordered[@]}"; do pid_of "$name" >/dev/null && running+=("$name"); done
  if [ ${#running[@]} -gt 0 ]; then
    say "stopping ${running[*]} (SIGTERM, SIGKILL after ${STOP_GRACE}s)"
    stop_pids TERM "${running[@]}"
    local deadline=$((SECONDS + STOP_GRACE)) left
    while :; do
      left=()
      for name in "${running[@]}"; do pid_of "$name" >/dev/null && left+=("$name"); done
      [ ${#left[@]} -eq 0 ] && break
      if [ "$SECONDS" -ge "$deadline" ]; then
        say "still running after ${STOP_GRACE}s, killing: ${left[*]}"
        stop_pids KILL "${left[@]}"
        sleep 0.5
        break
      fi
      sleep 0.2
    done
    for name in "${running[@]}"; do
      if pid_of "$name" >/dev/null; then say "$name did NOT stop"; else say "stopped $name"; fi
    done
  else
    say "no SIMASN process is running"
  fi
  for name in "${names[@]}"; do pid_of "$name" >/dev/null || rm -f "$PID_DIR/$name.pid"; done
  scripts/infra.sh stop
}

cmd_status() {
  need_venv
  local names name pid running=() rc=0
  read -r -a names <<<"$(all_names)"
  for name in "${names[@]}"; do
    if [ "$(service_of "$name")" != relay ] && pid_of "$name" >/dev/null; then
      [[ " ${running[*]} " == *" $(service_of "$name") "* ]] || running+=("$(service_of "$name")")
    fi
  done
  local health="{}"
  if [ ${#running[@]} -gt 0 ]; then
    local args=(); for name in "${running[@]}"; do args+=(--service "$name"); done
    health=$("$BIN/simasn" health "${args[@]}" 2>/dev/null) || true
  fi
  local supervised=""
  [ -f "$RUN_DIR/supervisor.state.json" ] && supervised=$(<"$RUN_DIR/supervisor.state.json")
  printf '%-13s %-11s %-8s %-11s %s\n' PROCESS STATE PID RESTARTS HEALTH
  if pid=$(pid_of supervisor); then
    printf '%-13s %-11s %-8s %-11s %s\n' supervisor running "$pid" - "restarts what exits"
  else
    printf '%-13s %-11s %-8s %-11s %s\n' supervisor stopped - - "nothing restarts a process that exits"
    rc=3
  fi
  for name in "${names[@]}"; do
    local state=stopped shown=- verdict=- restarts=-
    # restarts, and whether the supervisor is about to start it again
    read -r restarts supervised_state < <(STATE="$supervised" "$BIN/python" - "$name" <<'PY'
import json, os, sys
try:
    entry = json.loads(os.environ["STATE"] or "{}")["processes"][sys.argv[1]]
except (ValueError, KeyError, TypeError):
    entry = {}
last = entry.get("last_exit")
restarts = str(entry.get("restarts", "-"))
if entry.get("restarts") and last is not None:
    restarts += f"(exit:{last})"
print(restarts, entry.get("state", "-"))
PY
)
    if pid=$(pid_of "$name"); then
      state=running; shown=$pid
      if [ "$(service_of "$name")" != relay ]; then
        # the health RPC is answered by any replica of the service: a verdict per service
        verdict=$(HEALTH="$health" "$BIN/python" - "$(service_of "$name")" <<'PY'
import json, os, sys
try:
    answer = json.loads(os.environ["HEALTH"] or "{}").get(sys.argv[1], {})
except ValueError:
    answer = {}
status = answer.get("status", "no answer")
detail = f"database={answer['database']}" if "database" in answer else answer.get("error", "")
print(f"{status} {detail}".strip())
PY
)
        [[ "$verdict" == ok* ]] || rc=3
      fi
    else
      [ "$supervised_state" = restarting ] && pid_of supervisor >/dev/null && state=restarting
      rc=3
    fi
    if [ "$(service_of "$name")" = gateway ] && [ "$state" = running ]; then
      if curl -fsS --max-time 3 "$GATEWAY_URL/health/ready" >/dev/null 2>&1; then
        verdict="$verdict; $GATEWAY_URL/health/ready ok"
      else
        verdict="$verdict; $GATEWAY_URL/health/ready NOT ready"; rc=3
      fi
    fi
    printf '%-13s %-11s %-8s %-11s %s\n' "$name" "$state" "$shown" "$restarts" "$verdict"
  done
  return $rc
}

cmd_logs() {
  local name=${1:-} files=()
  if [ -n "$name" ]; then
    [ -f "$LOG_DIR/$name.log" ] || die "no log .run/logs/$name.log (names: $(all_names))"
    files=("$LOG_DIR/$name.log")
  else
    for f in "$LOG_DIR"/*.log; do [ -e "$f" ] && files+=("$f"); done
    [ ${#files[@]} -gt 0 ] || die "no logs under .run/logs yet: run 'make up'"
  fi
  exec tail -n "${SIMASN_LOG_LINES:-50}" -F "${files[@]}"
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  logs) cmd_logs "${2:-}" ;;
  *) echo "usage: $0 up|down|status|logs [NAME]" >&2; exit 2 ;;
esac
