#!/usr/bin/env bash
# Starts N stateless `sift serve` replicas on loopback and nginx in front of them (deploy/nginx-sift.conf.template),
# with health checks: each replica must answer /health before nginx starts, nginx leaves out a replica that fails
# (passive: max_fails/fail_timeout, and proxy_next_upstream retries the request on another one), and a monitor
# polls every replica's /health each second and logs changes (RUN_DIR/monitor.log). With NGINX_RELOAD_ON_HEALTH=1
# it also reloads nginx with the unhealthy replicas marked `down`; off by default, because a reload closes idle
# keep-alive client connections and a client that sends on one at that moment sees an error (measured: 7 failed
# requests in 10 s with reloads, 0 without; see deploy/README.md).
#
#   deploy/replicas.sh start N [-- SERVE_ARGS...]   start N replicas + nginx (SERVE_ARGS go to every `sift serve`,
#                                                   e.g. -- --store postgres://sift@127.0.0.1:5432/sift)
#   deploy/replicas.sh stop                         stop nginx, the monitor and every replica
#   deploy/replicas.sh status                       health of nginx and each replica
#   deploy/replicas.sh kill I                       SIGKILL replica I (1-based), as a crash would (for load tests)
#
# Environment: SIFT_MODEL (cross-encoder; default: a trained one in ~/.cache/sift/models/sift/, else the shared
# fixture ce-minilm-l6-arch, which has MiniLM-L6's exact architecture and cost but random weights),
# LISTEN (nginx address, default 127.0.0.1:8080), BASE_PORT (replica i listens on BASE_PORT+i, default 18080),
# RUN_DIR (pids, logs, rendered config; default /tmp/sift-replicas), SIFT_THREADS (ONNX Runtime threads per
# replica, default 1), SIFT_DLL (a built sift.dll; default: ./sift builds one), SIFT_SHARED (default ../shared).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
RUN_DIR="${RUN_DIR:-/tmp/sift-replicas}"
LISTEN="${LISTEN:-127.0.0.1:8080}"
BASE_PORT="${BASE_PORT:-18080}"
SIFT_THREADS="${SIFT_THREADS:-1}"
shared="${SIFT_SHARED:-$repo/../shared}"

die() { echo "replicas: $*" >&2; exit 1; }

default_model() {
  local trained
  trained="$(ls -d "$HOME"/.cache/sift/models/sift/*/ 2>/dev/null | head -1 || true)"
  if [[ -n "$trained" && -f "$trained/onnx/model.onnx" ]]; then echo "${trained%/}"; else echo "$shared/models/fixtures/ce-minilm-l6-arch"; fi
}

sift_dll() {
  if [[ -n "${SIFT_DLL:-}" ]]; then echo "$SIFT_DLL"; return; fi
  "$repo/sift" --help >/dev/null  # builds .sift-build once, before N replicas start at the same time
  echo "$repo/.sift-build/bin/sift.dll"
}

count() { cat "$RUN_DIR/replicas" 2>/dev/null || echo 0; }
port_of() { echo $((BASE_PORT + $1)); }
healthy() { curl -sf -m 1 "http://127.0.0.1:$(port_of "$1")/health" >/dev/null 2>&1; }

# Writes nginx.conf with one upstream line per replica; $1 is a string of 1/0 (healthy or not) per replica.
render() {
  local state="$1" n lines="" i
  n="$(count)"
  for ((i = 1; i <= n; i++)); do
    local down=""
    [[ "${state:i-1:1}" == "0" ]] && down=" down"
    lines+="        server 127.0.0.1:$(port_of "$i") max_fails=1 fail_timeout=3s${down};"$'\n'
  done
  printf '%s' "$lines" >"$RUN_DIR/upstreams.conf"
  awk -v run="$RUN_DIR" -v listen="$LISTEN" -v ups="$RUN_DIR/upstreams.conf" '
    /@UPSTREAMS@/ { while ((getline line < ups) > 0) print line; close(ups); next }
    { gsub(/@RUN@/, run); gsub(/@LISTEN@/, listen); print }' "$here/nginx-sift.conf.template" >"$RUN_DIR/nginx.conf.new"
  mv "$RUN_DIR/nginx.conf.new" "$RUN_DIR/nginx.conf"
}

nginx_cmd() { nginx -p "$RUN_DIR" -c "$RUN_DIR/nginx.conf" "$@"; }

monitor() {
  local n last state i all_down
  n="$(count)"
  last="$(printf '1%.0s' $(seq 1 "$n"))"  # what start rendered: every replica up
  [[ -n "${SIFT_MONITOR_TRACE:-}" ]] && set -x
  while true; do
    state=""
    for ((i = 1; i <= n; i++)); do if healthy "$i"; then state+="1"; else state+="0"; fi; done
    all_down="${state//0/}"
    # With every replica down, keep them all listed: nginx's passive checks then find the first to come back.
    [[ -z "$all_down" ]] && state="$(printf '1%.0s' $(seq 1 "$n"))"
    if [[ "$state" != "$last" ]]; then
      if [[ "${NGINX_RELOAD_ON_HEALTH:-0}" == "1" ]]; then
        render "$state"
        nginx_cmd -s reload 2>>"$RUN_DIR/monitor.log" || true
        echo "$(date -u +%FT%TZ) health $state (1 = up, per replica): nginx reloaded with the unhealthy ones down" >>"$RUN_DIR/monitor.log"
      else
        echo "$(date -u +%FT%TZ) health $state (1 = up, per replica)" >>"$RUN_DIR/monitor.log"
      fi
      last="$state"
    fi
    sleep 1
  done
}

start() {
  local n="${1:-}"; shift || true
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || die "usage: replicas.sh start N [-- SERVE_ARGS...]"
  [[ "${1:-}" == "--" ]] && shift
  command -v nginx >/dev/null || die "nginx is not installed (apt-get install nginx)"
  command -v curl >/dev/null || die "curl is not installed (apt-get install curl)"
  [[ -f "$RUN_DIR/replicas" ]] && die "already running in $RUN_DIR (replicas.sh stop first)"
  local model="${SIFT_MODEL:-$(default_model)}"
  [[ -e "$model" ]] || die "model $model not found; set SIFT_MODEL"
  local dll; dll="$(sift_dll)"
  mkdir -p "$RUN_DIR/tmp"
  chmod 1777 "$RUN_DIR/tmp"  # nginx workers may run as another user
  echo "$n" >"$RUN_DIR/replicas"
  local i
  for ((i = 1; i <= n; i++)); do
    # setsid: each replica in its own session, so a kill reaches exactly that process.
    setsid dotnet "$dll" serve --model "$model" --host 127.0.0.1 --port "$(port_of "$i")" --threads "$SIFT_THREADS" "$@" \
      >"$RUN_DIR/replica-$i.log" 2>&1 </dev/null &
    echo $! >"$RUN_DIR/replica-$i.pid"
  done
  local deadline=$((SECONDS + 180))
  for ((i = 1; i <= n; i++)); do
    until healthy "$i"; do
      kill -0 "$(cat "$RUN_DIR/replica-$i.pid")" 2>/dev/null || { tail -5 "$RUN_DIR/replica-$i.log" >&2; stop; die "replica $i exited (log above)"; }
      ((SECONDS < deadline)) || { stop; die "replica $i not healthy after 180 s"; }
      sleep 0.3
    done
  done
  render "$(printf '1%.0s' $(seq 1 "$n"))"
  nginx_cmd -t -q || { stop; die "nginx rejected $RUN_DIR/nginx.conf"; }
  nginx_cmd
  setsid "$0" __monitor >/dev/null 2>>"$RUN_DIR/monitor.log" </dev/null &
  echo $! >"$RUN_DIR/monitor.pid"
  until curl -sf -m 1 "http://$LISTEN/health" >/dev/null; do
    ((SECONDS < deadline)) || { stop; die "nginx on $LISTEN does not answer"; }
    sleep 0.2
  done
  echo "replicas: $n x sift serve ($(basename "$model")) on 127.0.0.1:$(port_of 1)..$(port_of "$n"), nginx on http://$LISTEN (run folder $RUN_DIR)"
}

stop() {
  [[ -f "$RUN_DIR/monitor.pid" ]] && kill "$(cat "$RUN_DIR/monitor.pid")" 2>/dev/null || true
  [[ -f "$RUN_DIR/nginx.pid" ]] && nginx_cmd -s quit 2>/dev/null || true
  local n i pid
  n="$(count)"
  for ((i = 1; i <= n; i++)); do
    [[ -f "$RUN_DIR/replica-$i.pid" ]] || continue
    pid="$(cat "$RUN_DIR/replica-$i.pid")"
    kill -TERM "$pid" 2>/dev/null || true  # sift serve drains in-flight requests on SIGTERM
  done
  for ((i = 1; i <= n; i++)); do
    [[ -f "$RUN_DIR/replica-$i.pid" ]] || continue
    pid="$(cat "$RUN_DIR/replica-$i.pid")"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$RUN_DIR/replica-$i.pid"
  done
  for _ in $(seq 1 50); do [[ -f "$RUN_DIR/nginx.pid" ]] || break; sleep 0.1; done
  rm -f "$RUN_DIR/replicas" "$RUN_DIR/monitor.pid"
}

status() {
  local n i; n="$(count)"
  ((n > 0)) || { echo "not running"; return 1; }
  curl -sf -m 1 "http://$LISTEN/nginx-health" >/dev/null && echo "nginx http://$LISTEN: up" || echo "nginx http://$LISTEN: DOWN"
  for ((i = 1; i <= n; i++)); do
    healthy "$i" && echo "replica $i (127.0.0.1:$(port_of "$i")): healthy" || echo "replica $i (127.0.0.1:$(port_of "$i")): DOWN"
  done
}

case "${1:-}" in
  start) shift; start "$@" ;;
  stop) stop ;;
  status) status ;;
  kill) [[ -f "$RUN_DIR/replica-${2:-x}.pid" ]] || die "no replica ${2:-}"; kill -KILL "$(cat "$RUN_DIR/replica-$2.pid")"; echo "replicas: killed replica $2" ;;
  __monitor) monitor ;;
  *) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
