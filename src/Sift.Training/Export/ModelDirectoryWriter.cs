using System.Text.Json;
using System.Text.Json.Nodes;
using Sift.Training.Engine;

namespace Sift.Training.Export;

/// <summary>
/// Writes a Hugging Face-layout cross-encoder directory that Sift.Onnx's CrossEncoder.Load, `sift rerank` and
/// `sift eval --rerank-model` read as they are: onnx/model.onnx, config.json (BertForSequenceClassification with
/// the sentence-transformers default activation), config_sentence_transformers.json, the source's tokenizer files
/// and a README.md model card.
/// </summary>
public static class ModelDirectoryWriter
{
    private static readonly string[] TokenizerFiles = ["tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"];
    private const string Sigmoid = "torch.nn.modules.activation.Sigmoid";

    public static void Write(string outDir, string sourceDir, BertConfig cfg, IReadOnlyList<NamedTensor> weights, string modelCard, int? maxLength = null)
    {
        Directory.CreateDirectory(Path.Combine(outDir, "onnx"));
        OnnxExporter.Export(cfg, weights, Path.Combine(outDir, "onnx", "model.onnx"));

        var src = Path.Combine(sourceDir, "config.json");
        var config = File.Exists(src) ? JsonNode.Parse(File.ReadAllText(src))!.AsObject() : new JsonObject();
        config["architectures"] = new JsonArray("BertForSequenceClassification");
        config["model_type"] = "bert";
        config["vocab_size"] = cfg.VocabSize;
        config["hidden_size"] = cfg.HiddenSize;
        config["num_hidden_layers"] = cfg.NumLayers;
        config["num_attention_heads"] = cfg.NumHeads;
        config["intermediate_size"] = cfg.IntermediateSize;
        config["max_position_embeddings"] = cfg.MaxPositions;
        config["type_vocab_size"] = cfg.TypeVocabSize;
        config["layer_norm_eps"] = cfg.LayerNormEps;
        config["hidden_act"] = "gelu";
        var id2label = new JsonObject();
        var label2id = new JsonObject();
        for (int i = 0; i < cfg.NumLabels; i++) { id2label[i.ToString(System.Globalization.CultureInfo.InvariantCulture)] = $"LABEL_{i}"; label2id[$"LABEL_{i}"] = i; }
        config["id2label"] = id2label;
        config["label2id"] = label2id;
        if (cfg.NumLabels == 1) config["sbert_ce_default_activation_function"] = Sigmoid;
        WriteJson(Path.Combine(outDir, "config.json"), config);

        var st = new JsonObject { ["activation_fn"] = cfg.NumLabels == 1 ? Sigmoid : "torch.nn.modules.linear.Identity", ["model_type"] = "CrossEncoder", ["trained_with"] = "sift train" };
        WriteJson(Path.Combine(outDir, "config_sentence_transformers.json"), st);

        foreach (var f in TokenizerFiles)
        {
            var from = Path.Combine(sourceDir, f);
            if (!File.Exists(from)) continue;
            var to = Path.Combine(outDir, f);
            if (f == "tokenizer_config.json" && maxLength is int ml)
            {
                var tc = JsonNode.Parse(File.ReadAllText(from))!.AsObject();
                tc["model_max_length"] = ml;
                WriteJson(to, tc);
            }
            else File.Copy(from, to, overwrite: true);
        }
        File.WriteAllText(Path.Combine(outDir, "README.md"), modelCard);
    }

    private static void WriteJson(string path, JsonNode node) =>
        File.WriteAllText(path, node.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
}
