#!/usr/bin/env bash
# Prepares benchmarks/gpu/run.sh for a GPU machine that has neither .NET nor NuGet (the workplace's device machines):
# a self-contained GPU build of sift (linux-x64, ONNX Runtime's CUDA package), the small files of ce-minilm-l6-arch
# (its weights are rebuilt there by make_minilm.py: the 91 MB fixture does not fit a 64 MiB working tree), the
# reference pairs and the DL19 candidates, packed as .gpu-stage.part-* files of at most 60 MiB each (xz).
# Run it here, in the repo root, on a machine with NuGet; then see benchmarks/README.md, "GPU", for sending the parts.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SHARED=${SIFT_SHARED:-$ROOT/../shared}
STAGE="$ROOT/.gpu-stage"
cd "$ROOT"
rm -rf "$STAGE" "$STAGE".part-*
mkdir -p "$STAGE/minilm/model"

dotnet publish src/Sift.Cli -c Release -r linux-x64 --self-contained -p:SiftGpu=true -o "$STAGE/sift" -v q
# Not used by `sift bench`: TensorRT's provider (needs TensorRT) and the chart renderer's native libraries.
rm -f "$STAGE"/sift/libonnxruntime_providers_tensorrt.so "$STAGE"/sift/libSkiaSharp.so "$STAGE"/sift/libHarfBuzzSharp.so "$STAGE"/sift/*.pdb

FIX="$SHARED/models/fixtures/ce-minilm-l6-arch"
cp "$FIX"/*.json "$FIX"/vocab.txt "$STAGE/minilm/model/"
cp "$FIX/vocab.txt" "$STAGE/minilm/vocab.txt"
python3 -c 'import json, sys; json.dump({"pairs": json.load(open(sys.argv[1]))["pairs"]}, open(sys.argv[2], "w"))' \
  "$SHARED/models/fixtures/references.json" "$STAGE/minilm/pairs.json"
cp "$SHARED/data/trec-dl19-passage/retrieve_results_dl19_top100.json" "$STAGE/"

tar -C "$STAGE" -cf - . | xz -9 -T0 | split -b 60m -d - "$STAGE.part-"
ls -la "$STAGE".part-*
echo "each part is one device call's carry; see benchmarks/README.md (GPU)"
