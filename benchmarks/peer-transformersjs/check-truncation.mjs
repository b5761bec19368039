#!/usr/bin/env node
// Checks how Transformers.js truncates a (query, passage) pair that is longer than
// max_length, against the BERT cross-encoder expectation  [CLS] q [SEP] p' [SEP]
// with p' cut so the whole pair is exactly max_length tokens (longest_first, the
// query being short). Prints a report on stdout; exits 0 whatever it finds.
//
//   node check-truncation.mjs [--model DIR] [--max-length 512]

import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SHARED = path.resolve(process.env.SIFT_SHARED || path.join(HERE, '..', '..', '..', 'shared'));
const { values } = parseArgs({
  options: { model: { type: 'string' }, 'max-length': { type: 'string', default: '512' } },
});
const modelDir = path.resolve(values.model ?? path.join(SHARED, 'models', 'fixtures', 'ce-minilm-l6-arch'));
const maxLength = Number(values['max-length']);

const { env, AutoTokenizer } = await import('@huggingface/transformers');
env.allowRemoteModels = false;
env.localModelPath = path.dirname(modelDir) + path.sep;
const tok = await AutoTokenizer.from_pretrained(path.basename(modelDir), { local_files_only: true });

const ids = (t) => Array.from(t.input_ids.data, Number);
const CLS = tok.convert_tokens_to_ids('[CLS]');
const SEP = tok.convert_tokens_to_ids('[SEP]');

const query = 'how long is life cycle of flea';
const passage = Array.from({ length: 400 }, (_, i) => `flea number ${i} lives in a warm place`).join('. ');

const q = ids(tok(query, { add_special_tokens: false }));
const p = ids(tok(passage, { add_special_tokens: false }));
const budget = maxLength - q.length - 3;
const expected = [CLS, ...q, SEP, ...p.slice(0, budget), SEP];

const pairTrunc = ids(tok(query, { text_pair: passage, truncation: true, max_length: maxLength }));
const pairBatch = tok([query, query], {
  text_pair: [passage, 'short passage'],
  truncation: true,
  padding: true,
  max_length: maxLength,
});
const row0 = ids(pairBatch).slice(0, pairBatch.input_ids.dims[1]);
const tt0 = Array.from(pairBatch.token_type_ids.data, Number).slice(0, pairBatch.input_ids.dims[1]);

const show = (a) => `len ${a.length}, last 4 ids [${a.slice(-4).join(', ')}] = ${a.slice(-4).map((id) => tok.decode([id])).join(' ')}`;
const same = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

console.log(`transformers.js ${env.version}; model ${modelDir}; max_length ${maxLength}`);
console.log(`query ${q.length} tokens, passage ${p.length} tokens (untruncated), [CLS]=${CLS} [SEP]=${SEP}`);
console.log(`expected        : ${show(expected)}`);
console.log(`single pair     : ${show(pairTrunc)}; equals expected: ${same(pairTrunc, expected)}`);
console.log(`batched + padded: ${show(row0)}; equals expected: ${same(row0, expected)}`);
console.log(`  token_type_ids of batched row: ${tt0.filter((x) => x === 0).length} zeros, ${tt0.filter((x) => x === 1).length} ones (expected ${q.length + 2} / ${budget + 1})`);
const sepCount = pairTrunc.filter((x) => x === SEP).length;
console.log(`[SEP] count in truncated pair: ${sepCount} (expected 2); ends with [SEP]: ${pairTrunc.at(-1) === SEP}`);
if (!same(pairTrunc, expected)) {
  const firstDiff = pairTrunc.findIndex((x, i) => x !== expected[i]);
  console.log(`first difference at position ${firstDiff}`);
}
