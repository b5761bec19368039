#!/usr/bin/env bash
# Runs Sift and the Transformers.js peer alternately on the same candidates, same machine, same run,
# and prints per-query latency ratios. Usage:
#   benchmarks/side-by-side.sh [--queries N] [--rounds R] [--batch-size B] [--threads T] [--sift-args "..."]
# Both engines get the same cores: Transformers.js runs T intra-op threads (its only mode); Sift uses its default
# threading for this machine (one single-threaded batch per core, side by side) unless --sift-args overrides it.
# Needs: the repo's ./sift, node + `ONNXRUNTIME_NODE_INSTALL=skip npm ci` in benchmarks/peer-transformersjs.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
shared="${SIFT_SHARED:-$repo/../shared}"
queries=43; rounds=2; batch=8; peer_batch=32; threads=2; sift_args=
while [[ $# -gt 0 ]]; do
  case "$1" in
    --queries) queries="$2"; shift 2;;
    --rounds) rounds="$2"; shift 2;;
    --batch-size) batch="$2"; shift 2;;
    --peer-batch-size) peer_batch="$2"; shift 2;;
    --threads) threads="$2"; shift 2;;
    --sift-args) sift_args="$2"; shift 2;;
    *) echo "unknown option $1" >&2; exit 2;;
  esac
done
model="$shared/models/fixtures/ce-minilm-l6-arch"
cands="$shared/data/trec-dl19-passage/retrieve_results_dl19_top100.json"
out="$(mktemp -d)"
if [[ ! -d "$here/peer-transformersjs/node_modules" ]]; then
  (cd "$here/peer-transformersjs" && ONNXRUNTIME_NODE_INSTALL=skip npm ci --silent >&2)
fi
"$repo/sift" --help >/dev/null  # build once, outside the timed runs
# A compiler server left running by that build (or an earlier one) competes for the cores: stop it.
dotnet build-server shutdown >/dev/null 2>&1 || true

for r in $(seq 1 "$rounds"); do
  for prec in fp32 int8; do
    peer_prec=$([[ $prec == int8 ]] && echo q8 || echo fp32)
    echo "round $r: sift $prec" >&2
    "$repo/sift" bench --model "$model" --candidates "$cands" --queries "$queries" --precision "$prec" \
      --batch-size "$batch" $sift_args --format json > "$out/sift-$prec-$r.json"
    echo "round $r: transformers.js $peer_prec" >&2
    node "$here/peer-transformersjs/bench.mjs" --model "$model" --candidates "$cands" --queries "$queries" \
      --precision "$peer_prec" --batch-size "$peer_batch" --threads "$threads" --format json > "$out/peer-$prec-$r.json"
  done
done

python3 - "$out" "$rounds" <<'PY'
import json, sys, statistics, glob, os
out, rounds = sys.argv[1], int(sys.argv[2])
def load(kind, prec):
    return [json.load(open(f)) for f in sorted(glob.glob(os.path.join(out, f"{kind}-{prec}-*.json")))]
print(f"| precision | engine | p50 ms/query | p95 ms/query | pairs/s | padding waste | cold start ms | speed-up (p50) |")
print(f"|---|---|---|---|---|---|---|---|")
for prec in ("fp32", "int8"):
    s, p = load("sift", prec), load("peer", prec)
    sp50 = statistics.median(x["p50_ms"] for x in s); pp50 = statistics.median(x["p50_ms"] for x in p)
    for name, runs, p50 in (("transformers.js", p, pp50), ("sift", s, sp50)):
        p95 = statistics.median(x["p95_ms"] for x in runs); pps = statistics.median(x["pairs_per_s"] for x in runs)
        waste = statistics.median(x.get("padding_waste", 1 - x["tokens"] / max(1, x["padded_tokens"])) for x in runs)
        cold = statistics.median(x["cold_start_ms"] for x in runs)
        ratio = f"{pp50 / p50:.2f}x" if name == "sift" else "1.00x"
        print(f"| {prec} | {name} | {p50:.0f} | {p95:.0f} | {pps:.0f} | {waste:.1%} | {cold:.0f} | {ratio} |")
PY
echo "raw JSON in $out" >&2
