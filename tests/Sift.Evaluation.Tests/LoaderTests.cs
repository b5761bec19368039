using Sift.Evaluation.Loaders;
using Sift.Testing;

namespace Sift.Evaluation.Tests;

/// <summary>Loaders against the real collections in ../shared/data (counts from each folder's PROVENANCE.txt).</summary>
public class LoaderTests
{
    private static string Data(params string[] parts) => Path.Combine([TestPaths.Data, .. parts]);

    [Fact]
    public void Beir_scifact_test_split()
    {
        var ds = BeirLoader.Load(Data("scifact"), "test");
        Assert.Equal("scifact", ds.Name);
        Assert.Equal(5183, ds.Documents.Count);
        Assert.Equal(300, ds.Queries.Count);
        Assert.Equal(339, ds.Qrels.Count);
        Assert.Equal(300, ds.Qrels.QueryIds.Count);
        Assert.All(ds.Documents, d => Assert.False(string.IsNullOrEmpty(d.Id)));
        var doc = ds.Documents.Single(d => d.Id == "4983");
        Assert.StartsWith("Microstructural development of human newborn cerebral white matter", doc.Title);
        Assert.StartsWith("Alterations of the architecture of cerebral white matter", doc.Text);
        // qrels/test.tsv is CRLF: ids must not carry a trailing '\r'.
        Assert.Equal(1, ds.Qrels.For("1")["31715818"]);
        Assert.Equal("0-dimensional biomaterials show inductive properties.", ds.Queries["1"]);
        var ids = ds.Documents.Select(d => d.Id!).ToHashSet();
        Assert.All(ds.Qrels.QueryIds, q => Assert.All(ds.Qrels.For(q).Keys, d => Assert.Contains(d, ids)));
    }

    [Fact]
    public void Beir_scifact_train_split_and_all_queries()
    {
        var train = BeirLoader.Load(Data("scifact"), "train");
        Assert.Equal(809, train.Queries.Count);
        Assert.Equal(919, train.Qrels.Count);
        Assert.Equal(1109, BeirLoader.ReadQueries(Data("scifact", "queries.jsonl")).Count);
    }

    [Fact]
    public void Beir_nfcorpus_graded()
    {
        var ds = BeirLoader.Load(Data("nfcorpus"));
        Assert.Equal(3162, ds.Documents.Count);
        Assert.Equal(323, ds.Queries.Count);
        Assert.Equal(12334, ds.Qrels.Count);
        var labels = ds.Qrels.QueryIds.SelectMany(q => ds.Qrels.For(q).Values).GroupBy(l => l).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(576, labels[2]);
        Assert.Equal(11758, labels[1]);
        Assert.Null(ds.Documents[0].Title); // converted corpus has no titles
    }

    [Fact]
    public void Beir_missing_split_names_the_available_ones()
    {
        var ex = Assert.Throws<SiftException>(() => BeirLoader.Load(Data("scifact"), "dev"));
        Assert.Contains("test", ex.Message);
        Assert.Contains("train", ex.Message);
    }

    [Fact]
    public void Trec_qrels_and_gzipped_anserini_topics_match_the_beir_files()
    {
        var trec = TrecFormat.ReadQrels(Data("beir-qrels-anserini", "qrels.beir-v1.0.0-scifact.test.txt"));
        var beir = BeirLoader.ReadQrels(Data("scifact", "qrels", "test.tsv"));
        Assert.Equal(beir.Count, trec.Count);
        foreach (var q in beir.QueryIds)
        {
            Assert.Equal(beir.For(q).OrderBy(kv => kv.Key), trec.For(q).OrderBy(kv => kv.Key));
        }

        var topics = TrecFormat.ReadTopics(Data("beir-qrels-anserini", "topics.beir-v1.0.0-scifact.test.tsv.gz"));
        Assert.Equal(300, topics.Count);
        Assert.Equal("0-dimensional biomaterials show inductive properties.", topics["1"]);

        var nf = TrecFormat.ReadTopics(Data("beir-qrels-anserini", "topics.beir-v1.0.0-nfcorpus.test.tsv.gz"));
        Assert.Equal(323, nf.Count);
        Assert.Equal("Do Cholesterol Statin Drugs Cause Breast Cancer?", nf["PLAIN-2"]);
        Assert.Equal(12334, TrecFormat.ReadQrels(Data("beir-qrels-anserini", "qrels.beir-v1.0.0-nfcorpus.test.txt")).Count);
    }

    [Fact]
    public void Qrels_load_detects_trec_and_beir_formats()
    {
        Assert.Equal(339, Qrels.Load(Data("scifact", "qrels", "test.tsv")).Count);
        Assert.Equal(339, Qrels.Load(Data("beir-qrels-anserini", "qrels.beir-v1.0.0-scifact.test.txt")).Count);
        Assert.Equal(9260, Qrels.Load(Data("trec-dl19-passage", "qrels.dl19-passage.txt")).Count);
    }

    [Fact]
    public void Trec_dl19_topics_and_qrels()
    {
        var topics = TrecFormat.ReadTopics(Data("trec-dl19-passage", "topics.dl19-passage.txt"));
        Assert.Equal(43, topics.Count);
        Assert.Equal("do goldfish grow", topics["156493"]);
        var qrels = TrecFormat.ReadQrels(Data("trec-dl19-passage", "qrels.dl19-passage.txt"));
        Assert.Equal(9260, qrels.Count);
        Assert.Equal(43, qrels.QueryIds.Count);
        Assert.Equal(0, qrels.For("19335")["1017759"]);
        Assert.Equal(Enumerable.Range(0, 4), qrels.QueryIds.SelectMany(q => qrels.For(q).Values).Distinct().Order());
    }

    [Fact]
    public void Dl19_candidate_list()
    {
        var list = CandidateListLoader.Load(Data("trec-dl19-passage", "retrieve_results_dl19_top100.json"));
        Assert.Equal(43, list.Queries.Count);
        Assert.All(list.Queries, q => Assert.Equal(100, q.Candidates.Count));
        var first = list.Queries[0];
        Assert.Equal("264014", first.QueryId);
        Assert.Equal("how long is life cycle of flea", first.Query);
        var hit = first.Candidates[0];
        Assert.Equal("5611210", hit.Document.Id);
        Assert.Equal(1, hit.Rank);
        Assert.Equal(15.780599594116211, first.SourceScores![0], 12);
        Assert.StartsWith("5. Cancel. A flea can live up to a year", hit.Document.Text);

        var topics = TrecFormat.ReadTopics(Data("trec-dl19-passage", "topics.dl19-passage.txt"));
        Assert.Equal(topics.Keys.Order(), list.QueryTexts.Keys.Order());

        var run = list.ToRun("bm25");
        Assert.Equal(4300, run.Count);
        Assert.Equal("bm25", run.Tag);
    }

    [Fact]
    public void Cranfield_positional_query_ids_and_inverted_codes()
    {
        var ds = SmartLoader.LoadCranfield(Data("cranfield"));
        Assert.Equal(1400, ds.Documents.Count);
        Assert.Equal(225, ds.Queries.Count);
        Assert.Equal(Enumerable.Range(1, 225).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)), ds.Queries.Keys);
        // cran.qry: 1st query is .I 001, 3rd is .I 004 (numbering has gaps; cranqrel uses positions).
        Assert.StartsWith("what similarity laws must be obeyed", ds.Queries["1"]);
        Assert.StartsWith("what problems of heat conduction in composite slabs", ds.Queries["3"]);
        Assert.DoesNotContain('\r', ds.Queries["1"]);

        // 1,837 rows minus the code -1 rows. PROVENANCE.txt says "2 rows have -1", but that count missed the CRLF
        // ("-1\r"): there are 225, exactly one per query, so they are not grades and are dropped.
        Assert.Equal(1837 - 225, ds.Qrels.Count);
        Assert.Equal(225, ds.Qrels.QueryIds.Count);
        // "1 184 2" → gain 3 (code 1 → 4, 2 → 3, 3 → 2, 4 → 1).
        Assert.Equal(3, ds.Qrels.For("1")["184"]);
        Assert.Equal(2, ds.Qrels.For("1")["12"]);
        Assert.False(ds.Qrels.For("19").ContainsKey("499")); // code -1 dropped
        var gains = ds.Qrels.QueryIds.SelectMany(q => ds.Qrels.For(q).Values).Distinct().Order();
        Assert.Equal([1, 2, 3, 4], gains);

        var doc1 = ds.Documents[0];
        Assert.Equal("1", doc1.Id);
        Assert.Equal("experimental investigation of the aerodynamics of a wing in a slipstream .", doc1.Title);
        Assert.Contains("propeller slipstream", doc1.Text);
        Assert.Equal("brenckman,m.", doc1.Metadata!["authors"]);
        var ids = ds.Documents.Select(d => d.Id!).ToHashSet();
        Assert.All(ds.Qrels.QueryIds, q => Assert.All(ds.Qrels.For(q).Keys, d => Assert.Contains(d, ids)));
    }

    [Fact]
    public void Cisi_judged_queries()
    {
        var ds = SmartLoader.LoadCisi(Data("cisi"));
        Assert.Equal(1460, ds.Documents.Count);
        Assert.Equal(76, ds.Queries.Count);
        Assert.Equal(3114, ds.Qrels.Count);
        Assert.Equal(76, ds.Qrels.QueryIds.Count);
        Assert.Equal(112, SmartLoader.LoadCisi(Data("cisi"), onlyJudgedQueries: false).Queries.Count);
        Assert.StartsWith("What problems and concerns are there in making up descriptive titles?", ds.Queries["1"]);
        Assert.Equal(1, ds.Qrels.For("1")["28"]);
        var doc = ds.Documents[0];
        Assert.Equal("1", doc.Id);
        Assert.Equal("18 Editions of the Dewey Decimal Classifications", doc.Title);
        Assert.StartsWith("The present study is a history of the DEWEY Decimal", doc.Text);
        Assert.DoesNotContain("1\t5\t1", doc.Text); // the .X cross-references are not text
    }
}
