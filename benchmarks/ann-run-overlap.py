#!/usr/bin/env python3
"""Recall@k of one TREC run against another taken as the truth (here: HNSW dense against exact dense), i.e. the mean
over queries of |top-k(run) ∩ top-k(truth)| / |top-k(truth)|. Usage: ann-run-overlap.py TRUTH.run RUN.run [k ...]"""
import sys
from collections import defaultdict

def load(path):
    runs = defaultdict(list)
    for line in open(path):
        qid, _, doc, rank, score, _ = line.split()
        runs[qid].append((int(rank), doc))
    return {q: [d for _, d in sorted(v)] for q, v in runs.items()}

truth, run = load(sys.argv[1]), load(sys.argv[2])
for k in [int(a) for a in sys.argv[3:]] or [10, 100]:
    per = [len(set(run.get(q, [])[:k]) & set(t[:k])) / len(t[:k]) for q, t in truth.items() if t]
    print(f"recall@{k} against {sys.argv[1]}: {sum(per) / len(per):.4f} over {len(per)} queries")
