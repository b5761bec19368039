#!/usr/bin/env bash
# Dense indexing speed, Sift against Transformers.js, on the same model directory, the same documents, the same
# machine, in the same run (the engines take turns), plus `sift bench` reranking GFLOP/s for the same architecture
# (ce-minilm-l6-arch = all-MiniLM-L6-v2's shape) so the indexing GFLOP/s can be put next to it. Usage:
#   benchmarks/embed-side-by-side.sh [--docs N] [--rounds R] [--model all-MiniLM-L6-v2] [--peer-order sorted|corpus]
# Needs: ./sift, node + `ONNXRUNTIME_NODE_INSTALL=skip npm ci` in benchmarks/peer-transformersjs.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
shared="${SIFT_SHARED:-$repo/../shared}"
docs=500; rounds=1; model=all-MiniLM-L6-v2; order=sorted
while [[ $# -gt 0 ]]; do
  case "$1" in
    --docs) docs="$2"; shift 2;;
    --rounds) rounds="$2"; shift 2;;
    --model) model="$2"; shift 2;;
    --peer-order) order="$2"; shift 2;;
    *) echo "unknown option $1" >&2; exit 2;;
  esac
done
corpus="$shared/data/scifact/corpus.jsonl"
out="$(mktemp -d)"
if [[ ! -d "$here/peer-transformersjs/node_modules" ]]; then
  (cd "$here/peer-transformersjs" && ONNXRUNTIME_NODE_INSTALL=skip npm ci --silent >&2)
fi
dir="$("$repo/sift" model install "$model" 2>/dev/null)"   # the model directory both engines read
dotnet build-server shutdown >/dev/null 2>&1 || true
for r in $(seq 1 "$rounds"); do
  for prec in fp32 int8; do
    peer_prec=$([[ $prec == int8 ]] && echo q8 || echo fp32)
    echo "round $r: sift $prec" >&2
    "$repo/sift" bench embed --model "$dir" --corpus "$corpus" --docs "$docs" --precision "$prec" --format json > "$out/sift-$prec-$r.json"
    echo "round $r: transformers.js $peer_prec" >&2
    node "$here/peer-transformersjs/embed.mjs" --model "$dir" --corpus "$corpus" --docs "$docs" --precision "$peer_prec" --threads 2 --order "$order" > "$out/peer-$prec-$r.json"
    echo "round $r: sift bench (reranking, ce-minilm-l6-arch) $prec" >&2
    "$repo/sift" bench --model "$shared/models/fixtures/ce-minilm-l6-arch" --candidates "$shared/data/trec-dl19-passage/retrieve_results_dl19_top100.json" \
      --queries 5 --precision "$prec" --format json > "$out/rerank-$prec-$r.json"
  done
done
python3 - "$out" <<'PY'
import json, sys, glob, os, statistics as st
out = sys.argv[1]
def load(kind, prec): return [json.load(open(f)) for f in sorted(glob.glob(os.path.join(out, f"{kind}-{prec}-*.json")))]
print("| precision | engine | docs/s | tokens | padding | GFLOP/s | speed-up |")
print("|---|---|---|---|---|---|---|")
for prec in ("fp32", "int8"):
    s, p, rr = load("sift", prec), load("peer", prec), load("rerank", prec)
    sd = st.median(x["docs_per_s"] for x in s); pd = st.median(x["docs_per_s"] for x in p)
    sg = st.median(x["gflops"] for x in s); rg = st.median(x["gflops"] for x in rr)
    print(f"| {prec} | transformers.js ({p[0]['order']} batches) | {pd:.1f} | {p[0]['tokens']:,} | {p[0]['padding_waste']:.1%} | | 1.00x |")
    print(f"| {prec} | sift | {sd:.1f} | {s[0]['tokens']:,} | {s[0]['padding_waste']:.1%} | {sg:.1f} | {sd/pd:.2f}x |")
    print(f"| {prec} | sift bench reranking (same shape) | | | | {rg:.1f} | indexing/reranking GFLOP/s {sg/rg:.0%} |")
PY
echo "raw results: $out" >&2
