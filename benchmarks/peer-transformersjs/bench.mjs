#!/usr/bin/env node
// Peer benchmark: Transformers.js (onnxruntime-node, CPU) reranking the TREC DL19
// top-100 BM25 candidate lists with a cross-encoder, the same workload Sift is
// benchmarked on. Machine-readable result on stdout; every log line on stderr.
//
//   node bench.mjs [--model DIR] [--candidates FILE] [--precision fp32|q8]
//                  [--batch-size 32] [--max-length 512] [--threads 2]
//                  [--queries N] [--warmup 2] [--format json|table]
//                  [--dump-scores FILE]
//
// Defaults resolve the shared folder from $SIFT_SHARED, else ../shared relative
// to the repository root (this file lives in <repo>/benchmarks/peer-transformersjs).

import { performance } from 'node:perf_hooks';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO_ROOT = path.resolve(HERE, '..', '..');
const SHARED = path.resolve(process.env.SIFT_SHARED || path.join(REPO_ROOT, '..', 'shared'));

const log = (...a) => console.error('[peer-transformersjs]', ...a);

function usage(code) {
  const text = `usage: node bench.mjs [options]
  --model DIR          Hugging Face layout model dir with onnx/model.onnx and onnx/model_quantized.onnx
                       (default: $SIFT_SHARED/models/fixtures/ce-minilm-l6-arch)
  --candidates FILE    candidate list JSON [{query, hits:[{qid, docid, content, ...}]}]
                       (default: $SIFT_SHARED/data/trec-dl19-passage/retrieve_results_dl19_top100.json)
  --precision P        fp32 (onnx/model.onnx) | q8 (onnx/model_quantized.onnx)   (default fp32)
  --batch-size N       pairs per inference call                                   (default 32)
  --max-length N       truncation length of a (query, passage) pair in tokens     (default 512)
  --threads N          onnxruntime intra-op threads                               (default 2)
  --queries N          number of queries measured, from the start of the file     (default: all)
  --warmup N           unmeasured queries run first                               (default 2)
  --format F           json | table                                               (default json)
  --dump-scores FILE   write {qid: [logit per hit, in candidate order]} for measured queries
  -h, --help
shared folder: ${SHARED} (from ${process.env.SIFT_SHARED ? '$SIFT_SHARED' : '<repo>/../shared'})`;
  console.error(text); // stderr even for --help: stdout carries results only
  process.exit(code);
}

function parseCli() {
  let parsed;
  try {
    parsed = parseArgs({
      options: {
        model: { type: 'string' },
        candidates: { type: 'string' },
        precision: { type: 'string', default: 'fp32' },
        'batch-size': { type: 'string', default: '32' },
        'max-length': { type: 'string', default: '512' },
        threads: { type: 'string', default: '2' },
        queries: { type: 'string' },
        warmup: { type: 'string', default: '2' },
        format: { type: 'string', default: 'json' },
        'dump-scores': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    });
  } catch (e) {
    console.error(`error: ${e.message}`);
    usage(2);
  }
  const v = parsed.values;
  if (v.help) usage(0);
  const int = (name, min) => {
    const raw = v[name];
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min) {
      console.error(`error: --${name} must be an integer >= ${min}, got '${raw}'`);
      usage(2);
    }
    return n;
  };
  if (!['fp32', 'q8'].includes(v.precision)) {
    console.error(`error: --precision must be fp32 or q8, got '${v.precision}'`);
    usage(2);
  }
  if (!['json', 'table'].includes(v.format)) {
    console.error(`error: --format must be json or table, got '${v.format}'`);
    usage(2);
  }
  return {
    model: path.resolve(v.model ?? path.join(SHARED, 'models', 'fixtures', 'ce-minilm-l6-arch')),
    candidates: path.resolve(
      v.candidates ?? path.join(SHARED, 'data', 'trec-dl19-passage', 'retrieve_results_dl19_top100.json'),
    ),
    precision: v.precision,
    batchSize: int('batch-size', 1),
    maxLength: int('max-length', 2),
    threads: int('threads', 1),
    queries: v.queries === undefined ? undefined : int('queries', 1),
    warmup: int('warmup', 0),
    format: v.format,
    dumpScores: v['dump-scores'],
  };
}

function loadCandidates(file) {
  const raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  if (!Array.isArray(raw)) throw new Error(`${file}: expected a JSON array of {query, hits}`);
  return raw.map((entry, i) => {
    if (typeof entry?.query !== 'string' || !Array.isArray(entry.hits) || entry.hits.length === 0) {
      throw new Error(`${file}: entry ${i} lacks a query string or a non-empty hits array`);
    }
    const qid = String(entry.hits[0].qid ?? entry.qid ?? i);
    return { qid, query: entry.query, passages: entry.hits.map((h) => String(h.content ?? '')) };
  });
}

// Linear interpolation between closest ranks (numpy's default percentile method).
function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo);
}

const round = (x, d = 3) => Math.round(x * 10 ** d) / 10 ** d;

async function main() {
  const opts = parseCli();
  for (const [what, p] of [['model directory', opts.model], ['candidates file', opts.candidates]]) {
    if (!fs.existsSync(p)) {
      console.error(`error: ${what} not found: ${p} (set SIFT_SHARED or pass --model/--candidates)`);
      process.exit(2);
    }
  }
  const onnxFile = path.join(opts.model, 'onnx', opts.precision === 'q8' ? 'model_quantized.onnx' : 'model.onnx');
  if (!fs.existsSync(onnxFile)) {
    console.error(`error: ${onnxFile} not found for precision ${opts.precision}`);
    process.exit(2);
  }

  const { env, AutoTokenizer, AutoModelForSequenceClassification, LogLevel } = await import(
    '@huggingface/transformers'
  );
  env.allowRemoteModels = false;
  env.allowLocalModels = true;
  env.useBrowserCache = false;
  env.useFSCache = false;
  env.localModelPath = path.dirname(opts.model) + path.sep;
  if (LogLevel) env.logLevel = LogLevel.ERROR;
  const modelId = path.basename(opts.model);

  log(`transformers.js ${env.version}, onnxruntime-node ${env.backends?.onnx?.versions?.node ?? '?'}`);
  log(`model ${onnxFile}`);
  const tokenizer = await AutoTokenizer.from_pretrained(modelId, { local_files_only: true });
  const model = await AutoModelForSequenceClassification.from_pretrained(modelId, {
    local_files_only: true,
    device: 'cpu',
    dtype: opts.precision,
    session_options: {
      intraOpNumThreads: opts.threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
    },
  });

  const all = loadCandidates(opts.candidates);
  const nMeasured = Math.min(opts.queries ?? all.length, all.length);
  const measured = all.slice(0, nMeasured);
  log(
    `${all.length} queries in ${path.basename(opts.candidates)}; warmup ${opts.warmup}, measuring ${nMeasured}; ` +
      `precision ${opts.precision}, batch ${opts.batchSize}, max_length ${opts.maxLength}, threads ${opts.threads}`,
  );

  let coldStartMs;

  // Scores one query's candidate list; returns timings, token counts and logits.
  async function rerank(q) {
    let tokenizeMs = 0;
    let inferenceMs = 0;
    let tokens = 0;
    let paddedTokens = 0;
    const scores = new Array(q.passages.length);
    const t0 = performance.now();
    for (let start = 0; start < q.passages.length; start += opts.batchSize) {
      const passages = q.passages.slice(start, start + opts.batchSize);
      const tA = performance.now();
      const inputs = tokenizer(new Array(passages.length).fill(q.query), {
        text_pair: passages,
        padding: true,
        truncation: true,
        max_length: opts.maxLength,
      });
      const tB = performance.now();
      const { logits } = await model(inputs);
      const tC = performance.now();
      if (coldStartMs === undefined) coldStartMs = tC; // performance.now() counts from process start
      tokenizeMs += tB - tA;
      inferenceMs += tC - tB;
      const [b, seq] = inputs.input_ids.dims;
      paddedTokens += b * seq;
      for (const m of inputs.attention_mask.data) tokens += Number(m);
      const nLabels = logits.dims[1] ?? 1;
      for (let i = 0; i < b; i++) scores[start + i] = logits.data[i * nLabels];
    }
    return { wallMs: performance.now() - t0, tokenizeMs, inferenceMs, tokens, paddedTokens, scores };
  }

  for (let i = 0; i < opts.warmup; i++) {
    const q = all[i % all.length];
    const r = await rerank(q);
    log(`warmup ${i + 1}/${opts.warmup} qid ${q.qid}: ${r.wallMs.toFixed(1)} ms`);
  }

  const perQuery = [];
  const dump = {};
  let tokens = 0;
  let paddedTokens = 0;
  let pairs = 0;
  let tokenizeMs = 0;
  let inferenceMs = 0;
  for (const [i, q] of measured.entries()) {
    const r = await rerank(q);
    perQuery.push(r.wallMs);
    tokens += r.tokens;
    paddedTokens += r.paddedTokens;
    pairs += q.passages.length;
    tokenizeMs += r.tokenizeMs;
    inferenceMs += r.inferenceMs;
    if (opts.dumpScores) dump[q.qid] = r.scores;
    log(
      `query ${i + 1}/${nMeasured} qid ${q.qid}: ${r.wallMs.toFixed(1)} ms ` +
        `(tokenize ${r.tokenizeMs.toFixed(1)}, inference ${r.inferenceMs.toFixed(1)}; ` +
        `${r.tokens} tokens, ${r.paddedTokens} padded)`,
    );
  }

  const totalMs = perQuery.reduce((a, b) => a + b, 0);
  const sorted = [...perQuery].sort((a, b) => a - b);
  const result = {
    engine: 'transformers.js',
    engine_version: env.version,
    precision: opts.precision,
    batch_size: opts.batchSize,
    max_length: opts.maxLength,
    threads: opts.threads,
    queries: nMeasured,
    pairs,
    tokens,
    padded_tokens: paddedTokens,
    p50_ms: round(percentile(sorted, 50)),
    p95_ms: round(percentile(sorted, 95)),
    mean_ms: round(totalMs / nMeasured),
    pairs_per_s: round(pairs / (totalMs / 1000), 2),
    tokens_per_s: round(tokens / (totalMs / 1000), 1),
    cold_start_ms: round(coldStartMs),
    tokenize_ms_total: round(tokenizeMs),
    inference_ms_total: round(inferenceMs),
  };

  if (opts.dumpScores) {
    fs.writeFileSync(opts.dumpScores, JSON.stringify(dump) + '\n');
    log(`scores written to ${opts.dumpScores}`);
  }

  if (opts.format === 'json') {
    process.stdout.write(JSON.stringify(result) + '\n');
  } else {
    const width = Math.max(...Object.keys(result).map((k) => k.length));
    process.stdout.write(
      Object.entries(result)
        .map(([k, v]) => `${k.padEnd(width)}  ${v}`)
        .join('\n') + '\n',
    );
  }
  await model.dispose?.();
}

main().catch((e) => {
  console.error(`error: ${e?.stack ?? e}`);
  process.exit(1);
});
