#!/usr/bin/env bash
# Issue 18's GPU check: DL19's 4,300 pairs (43 queries x 100 BM25 candidates) reranked by ce-minilm-l6-arch on CUDA,
# fp32 and fp16, with Sift built on ONNX Runtime's CUDA package. Reports pairs/s, p50 per 100-candidate query, the
# fp32-CUDA vs CPU max logit difference, fp16's Spearman against fp32, and the card, driver and CUDA versions.
# Goals (issue 18): fp16 >= 10,000 pairs/s and p50 <= 10 ms; fp32 CUDA within 1e-3 of the CPU; fp16 Spearman >= 0.99.
#
# Finishes in a few minutes on an H100 (every step has its own timeout; all together well under 8 minutes).
#
# Where it finds things (first that exists):
#   sift:  $SIFT_GPU_STAGE/sift/sift (self-contained GPU build from benchmarks/gpu/stage.sh; for machines without .NET
#          or NuGet, such as the workplace's device machines), else `dotnet publish -p:SiftGpu=true` of this checkout.
#   model: $SIFT_SHARED/models/fixtures/ce-minilm-l6-arch, else rebuilt with make_minilm.py from the stage (PyTorch).
#   data:  $SIFT_SHARED/data/trec-dl19-passage/retrieve_results_dl19_top100.json, else the stage's copy.
#   CUDA:  libcudart.so.13, libcublas(Lt).so.13, libcurand.so.10 on the loader path, in /usr/local/cuda*/lib64 or in
#          a Python environment's nvidia-* wheels (added to LD_LIBRARY_PATH).
# Results: $OUT (the device tool's folder) or benchmarks/gpu/results: summary.md, summary.json, run.log.
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
RESULTS=${OUT:-$HERE/results}
STAGE=${SIFT_GPU_STAGE:-$ROOT/.gpu-stage}
SHARED=${SIFT_SHARED:-$ROOT/../shared}
WORK=$(mktemp -d /tmp/sift-gpu.XXXXXX)
mkdir -p "$RESULTS"
exec > >(tee "$RESULTS/run.log") 2>&1
START=$(date +%s)
say() { echo "[$(( $(date +%s) - START ))s] $*"; }

# --- the card -------------------------------------------------------------------------------------------------------
if ! command -v nvidia-smi >/dev/null; then say "no nvidia-smi: not a GPU machine"; exit 2; fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$WORK/gpu.txt"
nvidia-smi | grep -o 'CUDA Version: [0-9.]*' | tee "$WORK/cuda.txt"

# --- CUDA 13 libraries for ONNX Runtime 1.32's CUDA provider ---------------------------------------------------------
need=(libcudart.so.13 libcublas.so.13 libcublasLt.so.13 libcurand.so.10)
dirs=$(ls -d /usr/local/cuda*/lib64 /usr/local/cuda*/targets/x86_64-linux/lib 2>/dev/null || true)
if command -v python3 >/dev/null; then
  site=$(python3 -c 'import site, sys; print(" ".join(site.getsitepackages()))' 2>/dev/null || true)
  for s in $site; do dirs="$dirs $(ls -d "$s"/nvidia/*/lib "$s"/nvidia/cu13/lib 2>/dev/null || true)"; done
fi
for lib in "${need[@]}"; do
  if ! ldconfig -p | grep -q "$lib"; then
    d=$(for x in $dirs; do [ -e "$x/$lib" ] && echo "$x" && break; done)
    if [ -n "$d" ]; then export LD_LIBRARY_PATH="$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"; say "$lib from $d"; else say "$lib not found (sift will say what is missing)"; fi
  fi
done

# --- sift (GPU build) ------------------------------------------------------------------------------------------------
if [ ! -x "$STAGE/sift/sift" ] && ls "$STAGE".part-* >/dev/null 2>&1; then
  say "unpacking the staged bundle ($(ls "$STAGE".part-* | wc -l) parts)"
  mkdir -p "$STAGE" && cat "$STAGE".part-* | tar -xJ -C "$STAGE" || { say "unpacking failed: are all parts there?"; exit 2; }
fi
if [ -x "$STAGE/sift/sift" ]; then
  SIFT=("$STAGE/sift/sift")
elif command -v dotnet >/dev/null; then
  say "building sift with the GPU package"
  timeout 300 dotnet publish "$ROOT/src/Sift.Cli" -c Release -p:SiftGpu=true -o "$WORK/sift" -v q || { say "build failed"; exit 2; }
  SIFT=(dotnet "$WORK/sift/sift.dll")
else
  say "no staged sift and no .NET SDK: run benchmarks/gpu/stage.sh on a machine with NuGet first (see benchmarks/README.md)"; exit 2
fi

# --- model and candidates --------------------------------------------------------------------------------------------
MODEL="$SHARED/models/fixtures/ce-minilm-l6-arch"
if [ ! -f "$MODEL/onnx/model.onnx" ]; then
  say "rebuilding ce-minilm-l6-arch with PyTorch"
  timeout 240 python3 "$HERE/make_minilm.py" "$STAGE/minilm" "$WORK/models" | tee "$WORK/model.json" || { say "model rebuild failed"; exit 2; }
  MODEL="$WORK/models/ce-minilm-l6-arch"
fi
CANDIDATES="$SHARED/data/trec-dl19-passage/retrieve_results_dl19_top100.json"
[ -f "$CANDIDATES" ] || CANDIDATES="$STAGE/retrieve_results_dl19_top100.json"

# A fresh cache: the fp16 conversion happens (and is timed in the cold start) once, in the first fp16 run.
export SIFT_CACHE="$WORK/cache"
bench() { # name, seconds, args...
  local name=$1 limit=$2; shift 2
  say "sift bench $name"
  if timeout "$limit" "${SIFT[@]}" bench --model "$MODEL" --candidates "$CANDIDATES" --format json "$@" >"$WORK/$name.json" 2>"$WORK/$name.err"; then
    head -c 600 "$WORK/$name.json"; echo
  else
    say "$name failed: $(tail -n 3 "$WORK/$name.err")"
  fi
}
bench fp32-cuda 120 --device cuda --precision fp32 --warmup 5
bench fp16-cuda 120 --device cuda --precision fp16 --warmup 5
bench fp16-cuda-1batch 120 --device cuda --precision fp16 --warmup 5 --concurrent-batches 1
bench fp16-cuda-32k 120 --device cuda --precision fp16 --warmup 5 --max-batch-tokens 32768 --batch-size 512
bench fp16-cuda-fusable 120 --device cuda --precision fp16 --warmup 5 --fp16-fusable-norms
bench fp32-cpu 150 --device cpu --precision fp32 --queries 10
bench agree-fp32-cuda-vs-cpu 240 --device cuda --precision fp32 --agreement
bench agree-fp16-vs-fp32-cuda 120 --device cuda --precision fp16 --agreement --reference-device cuda
bench agree-fp16-fusable-vs-fp32-cuda 120 --device cuda --precision fp16 --fp16-fusable-norms --agreement --reference-device cuda

# --- summary ---------------------------------------------------------------------------------------------------------
python3 - "$WORK" "$RESULTS" <<'PY'
import json, os, sys
work, out = sys.argv[1], sys.argv[2]
def load(n):
    try:
        return json.load(open(os.path.join(work, n + ".json")))
    except Exception:
        return None
runs = {n: load(n) for n in ["fp32-cuda", "fp16-cuda", "fp16-cuda-1batch", "fp16-cuda-32k", "fp16-cuda-fusable", "fp32-cpu"]}
agree32, agree16, agree16f = load("agree-fp32-cuda-vs-cpu"), load("agree-fp16-vs-fp32-cuda"), load("agree-fp16-fusable-vs-fp32-cuda")
card = open(os.path.join(work, "gpu.txt")).read().strip()
cuda = open(os.path.join(work, "cuda.txt")).read().strip()
model = load("model")
rows = ["| run | device | attention path | pairs/s | p50 ms | p95 ms | cold start ms |", "|---|---|---|---|---|---|---|"]
for n, r in runs.items():
    if r:
        rows.append(f"| {n} | {r['device']} (batch {r['batch_size']}, {r.get('max_batch_tokens')} tokens, {r['concurrent_batches']} at once, io binding {r['io_binding']}) "
                    f"| {r['attention']} | {r['pairs_per_s']:.0f} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | {r['cold_start_ms']:.0f} |")
    else:
        rows.append(f"| {n} | failed (run.log) | | | | | |")
best16 = max((r for n, r in runs.items() if n.startswith("fp16") and "fusable" not in n and r), key=lambda r: r["pairs_per_s"], default=None)
fus = runs.get("fp16-cuda-fusable")
goals = {
    "fp16 >= 10,000 pairs/s (best default-fp16 run)": bool(best16 and best16["pairs_per_s"] >= 10000),
    "fp16 p50 <= 10 ms per 100-candidate query (same run)": bool(best16 and best16["p50_ms"] <= 10),
    "fp32 CUDA max |logit - CPU| <= 1e-3": bool(agree32 and agree32["MaxAbsDiff"] <= 1e-3),
    "fp16 Spearman vs fp32 >= 0.99": bool(agree16 and agree16["Spearman"] >= 0.99),
    "fp16 with fusable norms: >= 10,000 pairs/s and p50 <= 10 ms": bool(fus and fus["pairs_per_s"] >= 10000 and fus["p50_ms"] <= 10),
    "fp16 with fusable norms: Spearman vs fp32 >= 0.99": bool(agree16f and agree16f["Spearman"] >= 0.99),
}
lines = [f"GPU: {card}; {cuda}", f"model: {json.dumps(model) if model else 'fixture from ../shared'}", ""] + rows + [""]
if agree32: lines.append(f"{agree32['Reference']} vs {agree32['Candidate']}: {agree32['Pairs']} pairs, max |dlogit| {agree32['MaxAbsDiff']:.2e}, Spearman {agree32['Spearman']:.5f}")
for label, a in (("fp16", agree16), ("fp16, fusable norms", agree16f)):
    if a: lines.append(f"{a['Reference']} vs {a['Candidate']} ({label}): {a['Pairs']} pairs, Spearman {a['Spearman']:.5f} pooled, {a['MeanPerQuerySpearman']:.5f} per query, max |dlogit| {a['MaxAbsDiff']:.4f}")
lines += ["", "| goal | met |", "|---|---|"] + [f"| {g} | {'yes' if ok else 'NO'} |" for g, ok in goals.items()]
open(os.path.join(out, "summary.md"), "w").write("\n".join(lines) + "\n")
json.dump({"gpu": card, "cuda": cuda, "model": model, "runs": runs, "agreement_fp32_cuda_vs_cpu": agree32,
           "agreement_fp16_vs_fp32_cuda": agree16, "agreement_fp16_fusable_vs_fp32_cuda": agree16f, "goals": goals}, open(os.path.join(out, "summary.json"), "w"), indent=1)
print("\n".join(lines))
PY
say "done"
