#!/usr/bin/env bash
# Bounded load test of the replicas behind nginx (loopback only; benchmarks/Sift.LoadTest does the load):
#   1. failover: 3 replicas, one SIGKILLed halfway through the load; counts failed client requests (goal: 0).
#   2. scale-out: throughput with 1, 2 and 3 replicas, same load, same run.
#
#   deploy/loadtest.sh [--duration S] [--clients N] [--scale-duration S] [--skip-scale]
#
# Each load phase is bounded by --duration / --scale-duration (defaults 30 s and 15 s; the failover phase is at most
# 60 s). SIFT_MODEL, SIFT_THREADS, SIFT_DLL as for replicas.sh. Prints one summary line per phase and exits 1 when
# the failover phase had failed requests.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
duration=30 clients=16 scale_duration=15 scale=1
while (($#)); do
  case "$1" in
    --duration) duration="$2"; shift 2 ;;
    --clients) clients="$2"; shift 2 ;;
    --scale-duration) scale_duration="$2"; shift 2 ;;
    --skip-scale) scale=0; shift ;;
    *) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
  esac
done
((duration <= 60)) || { echo "loadtest: --duration is at most 60 s" >&2; exit 2; }
export RUN_DIR="${RUN_DIR:-/tmp/sift-loadtest-$$}" LISTEN="${LISTEN:-127.0.0.1:18480}" BASE_PORT="${BASE_PORT:-18480}"
out="${OUT_DIR:-$RUN_DIR-results}"
mkdir -p "$out"

if [[ -z "${SIFT_DLL:-}" ]]; then "$repo/sift" --help >/dev/null; export SIFT_DLL="$repo/.sift-build/bin/sift.dll"; fi
loadtest_dll="$repo/benchmarks/Sift.LoadTest/bin/Release/net10.0/Sift.LoadTest.dll"
if [[ ! -f "$loadtest_dll" ]]; then dotnet build "$repo/benchmarks/Sift.LoadTest" -c Release --nologo -v quiet >&2; fi
trap '"$here/replicas.sh" stop >/dev/null 2>&1 || true' EXIT

load() { # $1 = seconds, $2 = output json
  dotnet "$loadtest_dll" --url "http://$LISTEN" --clients "$clients" --duration "$1" --warmup 2 --docs 10 --words 60 --json >"$2"
}
field() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(d[sys.argv[2]])" "$1" "$2"; }
summary() { python3 -c "
import json,sys; d=json.load(open(sys.argv[1]))
print(f\"{sys.argv[2]}: {d['requests']} ok, {d['failures']} failed, {d['throughput_rps']:.1f} req/s ({d['pairs_per_second']:.0f} pairs/s), p50 {d['p50_ms']:.0f} ms, p99 {d['p99_ms']:.0f} ms, status codes {d['status_codes']}\")" "$1" "$2"; }

# 1. Failover: kill replica 2 halfway through the measured window.
"$here/replicas.sh" start 3
load "$duration" "$out/failover.json" &
loader=$!
sleep $((2 + duration / 2))
"$here/replicas.sh" kill 2
wait "$loader"
"$here/replicas.sh" status || true
summary "$out/failover.json" "failover (3 replicas, replica 2 killed at ${duration}/2 s)"
failed="$(field "$out/failover.json" failures)"
cp "$RUN_DIR/monitor.log" "$out/monitor.log" 2>/dev/null || true
"$here/replicas.sh" stop

# 2. Scale-out, same load for 1, 2, 3 replicas.
if ((scale)); then
  for n in 1 2 3; do
    "$here/replicas.sh" start "$n" >/dev/null
    load "$scale_duration" "$out/scale-$n.json"
    "$here/replicas.sh" stop
    summary "$out/scale-$n.json" "$n replica(s)"
  done
fi
echo "loadtest: results in $out ($(nproc) cores here)"
((failed == 0)) || { echo "loadtest: $failed client requests failed during failover" >&2; exit 1; }
