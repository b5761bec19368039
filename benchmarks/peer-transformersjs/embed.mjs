#!/usr/bin/env node
// Peer benchmark for dense indexing: Transformers.js (onnxruntime-node, CPU) embedding a corpus with a
// sentence-transformers bi-encoder from the same model directory Sift uses (onnx/model.onnx or
// onnx/model_quantized.onnx, tokenizer.json), pooled and normalized as its 1_Pooling/config.json says.
// Machine-readable result on stdout; logs on stderr.
//
//   node embed.mjs --model DIR --corpus corpus.jsonl [--precision fp32|q8] [--batch-size 32]
//                  [--threads 2] [--docs N] [--order sorted|corpus] [--dump FILE]
//
// --order sorted (default) gives the peer the same length-sorted batches Sift uses (windows of 2048 documents),
// so the comparison is engine against engine; --order corpus batches in file order, as a plain
// pipeline('feature-extraction') user would.

import { performance } from 'node:perf_hooks';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

const log = (...a) => console.error('[peer-embed]', ...a);
const { values: v } = parseArgs({
  options: {
    model: { type: 'string' },
    corpus: { type: 'string' },
    precision: { type: 'string', default: 'fp32' },
    'batch-size': { type: 'string', default: '32' },
    threads: { type: 'string', default: '2' },
    docs: { type: 'string' },
    order: { type: 'string', default: 'sorted' },
    window: { type: 'string', default: '2048' },
    dump: { type: 'string' },
  },
  strict: true,
});
if (!v.model || !v.corpus) {
  console.error('usage: node embed.mjs --model DIR --corpus corpus.jsonl [--precision fp32|q8] [--batch-size 32] [--threads 2] [--docs N] [--order sorted|corpus]');
  process.exit(2);
}
const batchSize = Number(v['batch-size']);
const threads = Number(v.threads);
const windowSize = Number(v.window);
const modelDir = path.resolve(v.model);
const readJson = (f) => JSON.parse(fs.readFileSync(path.join(modelDir, f), 'utf8'));
const stBert = fs.existsSync(path.join(modelDir, 'sentence_bert_config.json')) ? readJson('sentence_bert_config.json') : {};
const maxLength = stBert.max_seq_length ?? 512;
const pooling = readJson('1_Pooling/config.json').pooling_mode_cls_token ? 'cls' : 'mean';
const normalize = readJson('modules.json').some((m) => m.type.endsWith('Normalize'));

let texts = fs.readFileSync(v.corpus, 'utf8').split('\n').filter((l) => l.trim()).map((l) => {
  const d = JSON.parse(l);
  return d.title ? `${d.title} ${d.text}` : d.text;
});
if (v.docs) texts = texts.slice(0, Number(v.docs));

const { env, AutoTokenizer, AutoModel, LogLevel } = await import('@huggingface/transformers');
env.allowRemoteModels = false;
env.allowLocalModels = true;
env.useBrowserCache = false;
env.useFSCache = false;
env.localModelPath = path.dirname(modelDir) + path.sep;
if (LogLevel) env.logLevel = LogLevel.ERROR;
const modelId = path.basename(modelDir);
const t0 = performance.now();
const tokenizer = await AutoTokenizer.from_pretrained(modelId, { local_files_only: true });
const model = await AutoModel.from_pretrained(modelId, {
  local_files_only: true, device: 'cpu', dtype: v.precision,
  session_options: { intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all' },
});
const loadMs = performance.now() - t0;
log(`transformers.js ${env.version}; ${texts.length} docs, ${v.precision}, batch ${batchSize}, max_length ${maxLength}, ${pooling} pooling, threads ${threads}, order ${v.order}`);

// Batches: length-sorted within windows (as Sift's index does), or in corpus order.
const batches = [];
for (let w = 0; w < texts.length; w += v.order === 'sorted' ? windowSize : texts.length) {
  const idx = [...Array(Math.min(texts.length, w + (v.order === 'sorted' ? windowSize : texts.length)) - w).keys()].map((i) => i + w);
  if (v.order === 'sorted') idx.sort((a, b) => texts[a].length - texts[b].length);
  for (let s = 0; s < idx.length; s += batchSize) batches.push(idx.slice(s, s + batchSize));
}

const vectors = new Array(texts.length);
let tokens = 0;
let padded = 0;
const start = performance.now();
for (const [bi, ids] of batches.entries()) {
  const inputs = tokenizer(ids.map((i) => texts[i]), { padding: true, truncation: true, max_length: maxLength });
  const out = await model(inputs);
  const h = out.last_hidden_state;
  const [b, seq, dim] = h.dims;
  const mask = inputs.attention_mask.data;
  padded += b * seq;
  for (let r = 0; r < b; r++) {
    const vec = new Float32Array(dim);
    let n = 0;
    for (let t = 0; t < seq; t++) {
      if (!Number(mask[r * seq + t])) continue;
      n++;
      if (pooling === 'cls' && t > 0) continue;
      for (let d = 0; d < dim; d++) vec[d] += h.data[(r * seq + t) * dim + d];
    }
    tokens += n;
    if (pooling === 'mean') for (let d = 0; d < dim; d++) vec[d] /= n;
    if (normalize) {
      let norm = 0;
      for (let d = 0; d < dim; d++) norm += vec[d] * vec[d];
      norm = Math.max(Math.sqrt(norm), 1e-12);
      for (let d = 0; d < dim; d++) vec[d] /= norm;
    }
    vectors[ids[r]] = Array.from(vec);
  }
  if ((bi + 1) % 20 === 0) log(`${bi + 1}/${batches.length} batches, ${((performance.now() - start) / 1000).toFixed(1)} s`);
}
const seconds = (performance.now() - start) / 1000;
if (v.dump) fs.writeFileSync(v.dump, JSON.stringify(vectors.slice(0, 50)));
console.log(JSON.stringify({
  engine: 'transformers.js', engine_version: env.version, precision: v.precision, order: v.order, documents: texts.length,
  tokens, padded_tokens: padded, padding_waste: 1 - tokens / padded, max_length: maxLength, load_ms: loadMs,
  embedding_s: seconds, docs_per_s: texts.length / seconds, tokens_per_s: tokens / seconds,
}));
