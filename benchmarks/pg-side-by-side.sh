#!/usr/bin/env bash
# PostgreSQL store vs Sift's own index, same machine, same run (issue 16 part 2):
#   1. ingest documents/s of SciFact (5,183 docs): lexical only, and with the bi-bert-tiny fixture embedder (so that
#      storage, not the embedder, dominates), `sift index --store` vs `sift index --index`;
#   2. /search p50/p99 at 10 concurrent clients (benchmarks/Sift.LoadTest --endpoint /search, SciFact queries,
#      top_n 10, reranked by the tiny ce-bert-tiny fixture so the first stage dominates): fts vs bm25, and dense/hybrid
#      on a store filled with all-MiniLM-L6-v2 vectors when DENSE_SCHEMA names one (e.g. the one `sift eval --store` filled).
#
#   benchmarks/pg-side-by-side.sh postgres://USER@127.0.0.1:PORT/DB [SECONDS]     (password in PGPASSWORD)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
base="${1:?usage: pg-side-by-side.sh postgres://USER@HOST:PORT/DB [SECONDS]}"
secs="${2:-15}"
shared="${SIFT_SHARED:-$repo/../shared}"
corpus="$shared/data/scifact/corpus.jsonl"
sift="${SIFT_DLL:-$repo/src/Sift.Cli/bin/Release/net10.0/sift.dll}"
load="$repo/benchmarks/Sift.LoadTest/bin/Release/net10.0/Sift.LoadTest.dll"
tiny_bi="$shared/models/fixtures/bi-bert-tiny" tiny_ce="$shared/models/fixtures/ce-bert-tiny"
work="$(mktemp -d)"
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT
docs=$(wc -l <"$corpus")

timed() { local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null 2>"$work/err" || { cat "$work/err" >&2; exit 1; }; t1=$(date +%s.%N); echo "$t1 - $t0" | bc; }
rate() { echo "scale=1; $docs / $1" | bc; }

echo "== ingest: $docs SciFact documents ($(nproc) cores, load average $(cut -d' ' -f1 /proc/loadavg))"
for round in 1 2; do
  a=$(timed dotnet "$sift" index --corpus "$corpus" --index "$work/idx-lex" --overwrite)
  b=$(timed dotnet "$sift" index --corpus "$corpus" --store "$base?schema=bench_lex" --overwrite)
  c=$(timed dotnet "$sift" index --corpus "$corpus" --index "$work/idx-tiny" --overwrite --dense-model "$tiny_bi")
  d=$(timed dotnet "$sift" index --corpus "$corpus" --store "$base?schema=bench_tiny" --overwrite --dense-model "$tiny_bi")
  echo "round $round: lexical: sift index $(rate "$a") docs/s (${a}s), postgres $(rate "$b") docs/s (${b}s); with bi-bert-tiny vectors: sift index $(rate "$c") docs/s, postgres+HNSW $(rate "$d") docs/s"
done

serve() { # $1 port, rest: --index DIR | --store ADDR
  local port="$1"; shift
  dotnet "$sift" serve --model "$tiny_ce" --port "$port" --threads 1 "$@" >"$work/serve-$port.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 300); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && return; sleep 0.2; done
  cat "$work/serve-$port.log" >&2; exit 1
}
search() { # $1 port, $2 mode, $3 label
  dotnet "$load" --url "http://127.0.0.1:$1" --endpoint /search --mode "$2" --top-n 10 --clients 10 --duration "$secs" --warmup 2 --json >"$work/load.json"
  python3 -c "
import json,sys; d=json.load(open(sys.argv[1]))
print(f\"{sys.argv[2]:<34} p50 {d['p50_ms']:7.1f} ms  p99 {d['p99_ms']:7.1f} ms  {d['throughput_rps']:6.1f} req/s  ({d['requests']} ok, {d['failures']} failed)\")" "$work/load.json" "$3"
}

echo "== /search at 10 concurrent clients, ${secs}s each, top_n 10 reranked by ce-bert-tiny"
serve 18611 --index "$work/idx-lex"
serve 18612 --store "$base?schema=bench_lex"
for round in 1 2; do
  search 18611 bm25 "round $round: sift index, bm25"
  search 18612 fts "round $round: postgres, fts (ts_rank_cd)"
done
if [[ -n "${DENSE_SCHEMA:-}" ]]; then
  serve 18613 --store "$base?schema=$DENSE_SCHEMA"
  search 18613 dense "postgres, dense (pgvector HNSW)"
  search 18613 hybrid "postgres, hybrid (fts + HNSW, RRF)"
fi
