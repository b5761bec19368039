// Drives a running `sift serve` with the unchanged Cohere JS SDK and prints what the SDK returned as one JSON line.
// Usage: node cohere-sdk.mjs http://127.0.0.1:PORT MODEL
import { CohereClient, CohereClientV2 } from "cohere-ai";

const [environment, model] = process.argv.slice(2);
const token = "any-key"; // the server has no key in the test; the SDK insists on one
const out = {};

const v2 = new CohereClientV2({ environment, token });
const r2 = await v2.rerank({
  model,
  query: "what is bm25",
  documents: ["BM25 is a ranking function used by search engines.", "Paris is the capital of France."],
  topN: 2,
});
out.v2 = r2.results.map((r) => ({ index: r.index, score: r.relevanceScore }));
out.v2_api_version = r2.meta?.apiVersion?.version;

const v1 = new CohereClient({ environment, token });
const r1 = await v1.rerank({
  model,
  query: "what is bm25",
  documents: [
    { title: "BM25", body: "a ranking function used by search engines" },
    { title: "Paris", body: "the capital of France" },
  ],
  rankFields: ["title", "body"],
  returnDocuments: true,
});
out.v1_rank_fields = r1.results.map((r) => ({ index: r.index, score: r.relevanceScore, document: r.document }));

// Errors come back as the SDK's error type with the server's status and body.
try {
  await v2.rerank({ model: "no-such-model", query: "q", documents: ["a"] });
  out.error = null;
} catch (e) {
  out.error = { status: e.statusCode, message: e.body?.message, name: e.constructor?.name };
}

console.log(JSON.stringify(out));
