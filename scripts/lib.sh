# Shared helpers for the scripts: start/stop a local wrangler dev.
# shellcheck shell=bash
export WRANGLER_SEND_METRICS=false CLOUDFLARE_CF_FETCH_ENABLED=false
FLARE_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WRANGLER="$FLARE_ROOT/node_modules/.bin/wrangler"

# migrate STATE_DIR: applies the D1 migrations to the local database in STATE_DIR.
migrate() {
  (cd "$FLARE_ROOT/edge" && "$WRANGLER" d1 migrations apply DB_0 --local --persist-to "$1" >/dev/null)
}

# start_edge STATE_DIR PORT LOGFILE: starts wrangler dev (with the configuration
# FLARE_WRANGLER_CONFIG names, relative to edge/, if set) in its own process
# group, waits until it answers, and sets EDGE_PID to the group id. (Not
# printed: a command substitution would wait on the pipe the server inherits.)
start_edge() {
  local state=$1 port=$2 log=$3
  if curl -s -o /dev/null "http://127.0.0.1:$port/"; then
    echo "port $port is already in use: stop the server there first" >&2
    return 1
  fi
  rm -f "$state.pid"
  # The inner bash becomes the session and group leader (setsid), records its
  # pid, then becomes wrangler: that pid is the group of wrangler and workerd.
  (cd "$FLARE_ROOT/edge" && setsid bash -c 'echo $$ > "$0"; exec "$@"' "$state.pid" \
      "$WRANGLER" dev ${FLARE_WRANGLER_CONFIG:+--config "$FLARE_WRANGLER_CONFIG"} \
      --local --ip 127.0.0.1 --port "$port" --persist-to "$state" --log-level warn \
      --show-interactive-dev-session=false >"$log" 2>&1 < /dev/null &)
  for _ in $(seq 1 100); do [ -s "$state.pid" ] && break; sleep 0.1; done
  local pid; pid=$(cat "$state.pid")
  EDGE_PID=$pid
  for _ in $(seq 1 1200); do
    if curl -sf -o /dev/null "http://127.0.0.1:$port/"; then return 0; fi
    if ! kill -0 "$pid" 2>/dev/null; then echo "wrangler dev exited; log:" >&2; tail -40 "$log" >&2; return 1; fi
    sleep 0.5
  done
  echo "wrangler dev did not answer on port $port; log:" >&2; tail -40 "$log" >&2
  return 1
}

# stop_edge PID: stops the whole process group (wrangler and workerd).
stop_edge() {
  kill -TERM -- "-$1" 2>/dev/null || true
  for _ in $(seq 1 20); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.25; done
  kill -KILL -- "-$1" 2>/dev/null || true
}
