namespace Sift.Evaluation.Tests;

/// <summary>Hand-computed checks of the trec_eval semantics.</summary>
public class MetricTests
{
    private const double Tol = 1e-9;

    // q1 judgments: d1=3, d2=2, d3=0, d4=1, d5=2 (d5 never retrieved).
    // Run order by score: d4 (label 1), d3 (0), d1 (3), dx (unjudged), d2 (2).
    private static (Qrels, Run) GradedExample()
    {
        var qrels = new Qrels();
        qrels.Add("q1", "d1", 3);
        qrels.Add("q1", "d2", 2);
        qrels.Add("q1", "d3", 0);
        qrels.Add("q1", "d4", 1);
        qrels.Add("q1", "d5", 2);
        var run = new Run();
        // Inserted out of order with misleading ranks: only scores matter.
        run.Add("q1", "d2", 2.0, 1);
        run.Add("q1", "d4", 6.0, 5);
        run.Add("q1", "dx", 3.0, 2);
        run.Add("q1", "d3", 5.0, 4);
        run.Add("q1", "d1", 4.0, 3);
        return (qrels, run);
    }

    [Fact]
    public void Ndcg_uses_graded_gains_log2_discount_and_ideal_from_all_judged_docs()
    {
        var (qrels, run) = GradedExample();
        var r = Evaluator.Evaluate(qrels, run, ["ndcg@3", "ndcg@5", "ndcg@10", "ndcg"]);

        // DCG@5 = 1/log2(2) + 0 + 3/log2(4) + 0 + 2/log2(6); ideal from labels [3,2,2,1] (d5 included though not retrieved).
        var dcg5 = 1.0 + 3.0 / 2.0 + 2.0 / Math.Log2(6);
        var idcg5 = 3.0 + 2.0 / Math.Log2(3) + 2.0 / 2.0 + 1.0 / Math.Log2(5);
        var dcg3 = 1.0 + 3.0 / 2.0;
        var idcg3 = 3.0 + 2.0 / Math.Log2(3) + 2.0 / 2.0;
        Assert.Equal(dcg3 / idcg3, r.Aggregate["ndcg@3"], Tol);
        Assert.Equal(0.4751172083949178, r.Aggregate["ndcg@3"], Tol); // cross-checked in Python
        Assert.Equal(dcg5 / idcg5, r.Aggregate["ndcg@5"], Tol);
        Assert.Equal(0.5750873735298306, r.Aggregate["ndcg@5"], Tol);
        Assert.Equal(dcg5 / idcg5, r.Aggregate["ndcg@10"], Tol);
        Assert.Equal(dcg5 / idcg5, r.Aggregate["ndcg"], Tol);
    }

    [Fact]
    public void Binary_measures_at_relevance_level_1()
    {
        var (qrels, run) = GradedExample();
        var r = Evaluator.Evaluate(qrels, run, ["mrr@10", "recip_rank", "recall@3", "recall@5", "p@5", "p@10", "map", "map@3"]);

        // Relevant (>=1): d1, d2, d4, d5 → 4. Ranked labels [1,0,3,-,2].
        Assert.Equal(1.0, r.Aggregate["mrr@10"], Tol);
        Assert.Equal(1.0, r.Aggregate["mrr"], Tol);
        Assert.Equal(2.0 / 4, r.Aggregate["recall@3"], Tol);
        Assert.Equal(3.0 / 4, r.Aggregate["recall@5"], Tol);
        Assert.Equal(3.0 / 5, r.Aggregate["p@5"], Tol);
        Assert.Equal(3.0 / 10, r.Aggregate["p@10"], Tol); // trec_eval P.k divides by k
        Assert.Equal((1.0 / 1 + 2.0 / 3 + 3.0 / 5) / 4, r.Aggregate["map"], Tol);
        Assert.Equal((1.0 / 1 + 2.0 / 3) / 4, r.Aggregate["map@3"], Tol);
    }

    [Fact]
    public void Relevance_level_2_changes_binary_measures_but_not_ndcg()
    {
        var (qrels, run) = GradedExample();
        var l1 = Evaluator.Evaluate(qrels, run, ["ndcg@5"], relevanceLevel: 1);
        var r = Evaluator.Evaluate(qrels, run, ["ndcg@5", "mrr@10", "recall@5", "p@5", "map"], relevanceLevel: 2);

        // Relevant (>=2): d1, d2, d5 → 3; first relevant is d1 at rank 3.
        Assert.Equal(l1.Aggregate["ndcg@5"], r.Aggregate["ndcg@5"], Tol);
        Assert.Equal(1.0 / 3, r.Aggregate["mrr@10"], Tol);
        Assert.Equal(2.0 / 3, r.Aggregate["recall@5"], Tol);
        Assert.Equal(2.0 / 5, r.Aggregate["p@5"], Tol);
        Assert.Equal((1.0 / 3 + 2.0 / 5) / 3, r.Aggregate["map"], Tol);
        Assert.Equal(2, r.RelevanceLevel);
    }

    [Fact]
    public void Ties_are_broken_by_docid_descending_like_trec_eval()
    {
        var qrels = new Qrels();
        qrels.Add("q", "a", 1);
        var run = new Run();
        // All tied; the file order and the rank column both put "a" first, but trec_eval sorts docids descending: c, b, a.
        run.Add("q", "a", 1.0, 1);
        run.Add("q", "b", 1.0, 2);
        run.Add("q", "c", 1.0, 3);
        var r = Evaluator.Evaluate(qrels, run, ["mrr@10", "ndcg@10", "p@1"]);
        Assert.Equal(1.0 / 3, r.Aggregate["mrr@10"], Tol);
        Assert.Equal(1.0 / Math.Log2(4), r.Aggregate["ndcg@10"], Tol);
        Assert.Equal(0.0, r.Aggregate["p@1"], Tol);

        Assert.Equal(["c", "b", "a"], run.Ranked("q").Select(e => e.DocId));
    }

    [Fact]
    public void Tie_break_is_ordinal_string_comparison_not_numeric()
    {
        var run = new Run();
        run.Add("q", "10", 2.0, 1);
        run.Add("q", "9", 2.0, 2);
        run.Add("q", "100", 2.0, 3);
        run.Add("q", "5", 3.0, 4);
        // score desc first (5), then strcmp descending: "9" > "100" > "10".
        Assert.Equal(["5", "9", "100", "10"], run.Ranked("q").Select(e => e.DocId));
    }

    [Fact]
    public void Empty_run_scores_zero_for_judged_queries()
    {
        var qrels = new Qrels();
        qrels.Add("q1", "d1", 1);
        qrels.Add("q2", "d2", 2);
        var r = Evaluator.Evaluate(qrels, new Run(), Metric.Defaults);
        Assert.Equal(2, r.QueryCount);
        Assert.Equal(["q1", "q2"], r.QueriesWithoutResults);
        foreach (var v in r.Aggregate.Values)
        {
            Assert.Equal(0.0, v);
        }
    }

    [Fact]
    public void Query_missing_from_run_counts_as_zero_in_the_mean()
    {
        var qrels = new Qrels();
        qrels.Add("q1", "d1", 1);
        qrels.Add("q2", "d2", 1);
        var run = new Run();
        run.Add("q1", "d1", 1.0, 1);
        run.Add("q3", "d9", 1.0, 1); // not in qrels: ignored
        var r = Evaluator.Evaluate(qrels, run, ["ndcg@10", "recall@100"]);
        Assert.Equal(2, r.QueryCount);
        Assert.Equal(0.5, r.Aggregate["ndcg@10"], Tol);
        Assert.Equal(0.5, r.Aggregate["recall@100"], Tol);
        Assert.Equal(1.0, r.PerQuery["q1"]["ndcg@10"], Tol);
        Assert.Equal(0.0, r.PerQuery["q2"]["ndcg@10"], Tol);
        Assert.False(r.PerQuery.ContainsKey("q3"));
    }

    [Fact]
    public void Query_without_relevant_documents_is_skipped()
    {
        var qrels = new Qrels();
        qrels.Add("q1", "d1", 1);
        qrels.Add("q2", "d2", 0); // judged, but nothing relevant
        qrels.Add("q2", "d3", -1);
        var run = new Run();
        run.Add("q1", "d1", 1.0, 1);
        run.Add("q2", "d2", 1.0, 1);
        var r = Evaluator.Evaluate(qrels, run, ["ndcg@10", "map"]);
        Assert.Equal(1, r.QueryCount);
        Assert.Equal(["q2"], r.SkippedQueries);
        Assert.Equal(1.0, r.Aggregate["ndcg@10"], Tol);
        Assert.Equal(1.0, r.Aggregate["map"], Tol);
    }

    [Fact]
    public void Relevance_level_also_decides_which_queries_are_evaluated()
    {
        var qrels = new Qrels();
        qrels.Add("q1", "d1", 2);
        qrels.Add("q2", "d2", 1); // relevant at level 1 only
        var run = new Run();
        run.Add("q1", "d1", 1.0, 1);
        run.Add("q2", "d2", 1.0, 1);
        Assert.Equal(2, Evaluator.Evaluate(qrels, run, ["ndcg@10"], relevanceLevel: 1).QueryCount);
        var l2 = Evaluator.Evaluate(qrels, run, ["ndcg@10"], relevanceLevel: 2);
        Assert.Equal(1, l2.QueryCount);
        Assert.Equal(["q2"], l2.SkippedQueries);
    }

    [Fact]
    public void Negative_labels_gain_nothing_and_are_not_in_the_ideal()
    {
        var qrels = new Qrels();
        qrels.Add("q", "neg", -1);
        qrels.Add("q", "rel", 1);
        var run = new Run();
        run.Add("q", "neg", 2.0, 1);
        run.Add("q", "rel", 1.0, 2);
        var r = Evaluator.Evaluate(qrels, run, ["ndcg@10", "mrr@10"]);
        Assert.Equal(1.0 / Math.Log2(3), r.Aggregate["ndcg@10"], Tol);
        Assert.Equal(0.5, r.Aggregate["mrr@10"], Tol);
    }

    [Fact]
    public void Max_results_per_query_truncates_after_sorting()
    {
        var (qrels, run) = GradedExample();
        var r = Evaluator.Evaluate(qrels, run, [Metric.Recall(100)], new EvaluationOptions { MaxResultsPerQuery = 3 });
        Assert.Equal(2.0 / 4, r.Aggregate["recall@100"], Tol);
    }

    [Fact]
    public void Duplicate_documents_in_a_run_count_once_at_their_best_position()
    {
        var qrels = new Qrels();
        qrels.Add("q", "a", 1);
        qrels.Add("q", "b", 1);
        var run = new Run();
        run.Add("q", "a", 3.0, 1);
        run.Add("q", "a", 2.0, 2);
        run.Add("q", "b", 1.0, 3);
        var r = Evaluator.Evaluate(qrels, run, ["p@2", "map"]);
        Assert.Equal(1.0, r.Aggregate["p@2"], Tol);
        Assert.Equal(1.0, r.Aggregate["map"], Tol);
    }

    [Fact]
    public void Mean_is_over_evaluated_queries()
    {
        var qrels = new Qrels();
        qrels.Add("q1", "a", 1);
        qrels.Add("q2", "b", 1);
        var run = new Run();
        run.Add("q1", "a", 1.0, 1);
        run.Add("q2", "x", 2.0, 1);
        run.Add("q2", "b", 1.0, 2);
        var r = Evaluator.Evaluate(qrels, run, ["mrr@10"]);
        Assert.Equal((1.0 + 0.5) / 2, r.Aggregate["mrr@10"], Tol);
        Assert.Equal(0.75, r["MRR@10"], Tol);
    }

    [Fact]
    public void Bad_options_raise_sift_exceptions()
    {
        var qrels = new Qrels();
        qrels.Add("q", "a", 1);
        Assert.Throws<SiftException>(() => Evaluator.Evaluate(qrels, new Run(), ["ndcg@10"], relevanceLevel: -1));
        Assert.Throws<SiftException>(() => Evaluator.Evaluate(qrels, new Run(), Array.Empty<Metric>()));
        Assert.Throws<SiftException>(() => Evaluator.Evaluate(qrels, new Run(), ["nope@3"]));
    }

    [Fact]
    public void Run_from_candidates_uses_document_ids()
    {
        IReadOnlyList<Candidate> list = [new Candidate(new Document("t", "d1"), 0.9f, 1), new Candidate(new Document("u", "d2"), 0.1f, 2)];
        var run = Run.FromCandidates([new KeyValuePair<string, IReadOnlyList<Candidate>>("q", list)]);
        Assert.Equal(["d1", "d2"], run.Ranked("q").Select(e => e.DocId));

        IReadOnlyList<Candidate> noId = [new Candidate(new Document("t"), 0.9f, 1)];
        Assert.Throws<SiftException>(() => Run.FromCandidates([new KeyValuePair<string, IReadOnlyList<Candidate>>("q", noId)]));
    }
}
