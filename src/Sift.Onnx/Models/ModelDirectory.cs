using System.Text.Json;
using System.Text.Json.Nodes;

namespace Sift.Onnx;

/// <summary>
/// A model in the Hugging Face layout on disk: <c>config.json</c>, tokenizer files and ONNX weights.
/// Resolves which file to load and reads the settings that change scoring. Never touches the network.
/// </summary>
public sealed class ModelDirectory
{
    private ModelDirectory(string root, string onnxPath, JsonObject config, JsonObject? stConfig)
    {
        Root = root;
        OnnxPath = onnxPath;
        Config = config;
        SentenceTransformersConfig = stConfig;
    }

    /// <summary>The model directory.</summary>
    public string Root { get; }

    /// <summary>The ONNX file that will be loaded.</summary>
    public string OnnxPath { get; }

    /// <summary><c>config.json</c>.</summary>
    public JsonObject Config { get; }

    /// <summary><c>config_sentence_transformers.json</c>, if present.</summary>
    public JsonObject? SentenceTransformersConfig { get; }

    /// <summary>A short name for reports: the directory name.</summary>
    public string Name => Path.GetFileName(Path.TrimEndingDirectorySeparator(Root));

    /// <summary>Number of output labels (transformers' default is 2 when config.json names none).</summary>
    public int NumLabels
    {
        get
        {
            if (Config["id2label"] is JsonObject id2label && id2label.Count > 0)
            {
                return id2label.Count;
            }
            return Config["num_labels"] is JsonValue v && v.TryGetValue(out int n) ? n : 2;
        }
    }

    /// <summary><c>max_position_embeddings</c>, the hard cap on sequence length (RoBERTa-style models reserve 2 positions).</summary>
    public int? MaxPositionEmbeddings
    {
        get
        {
            if (Config["max_position_embeddings"] is not JsonValue v || !v.TryGetValue(out int n))
            {
                return null;
            }
            // RoBERTa/XLM-R offset positions by padding_idx + 1, so 514 embeddings hold 512 tokens.
            var modelType = Config["model_type"]?.GetValue<string>();
            return modelType is "roberta" or "xlm-roberta" or "camembert" ? n - 2 : n;
        }
    }

    /// <summary>
    /// The activation sentence-transformers' CrossEncoder applies by default: <c>activation_fn</c> in
    /// config_sentence_transformers.json, else <c>sbert_ce_default_activation_function</c> in config.json
    /// (older models such as ms-marco-MiniLM-L-6-v2 say Identity there), else sigmoid for one label.
    /// </summary>
    public ScoreActivation DeclaredActivation
    {
        get
        {
            var name = SentenceTransformersConfig?["activation_fn"]?.GetValue<string>()
                       ?? Config["sbert_ce_default_activation_function"]?.GetValue<string>();
            if (name is not null)
            {
                var last = name.Split('.')[^1];
                return last switch
                {
                    "Sigmoid" => ScoreActivation.Sigmoid,
                    "Identity" => ScoreActivation.Raw,
                    "Softmax" => ScoreActivation.Softmax,
                    _ => throw new SiftException(
                        $"{Path.Combine(Root, "config_sentence_transformers.json")}: activation '{name}' is not supported; " +
                        "pass an explicit activation (raw, sigmoid or softmax)."),
                };
            }
            return NumLabels == 1 ? ScoreActivation.Sigmoid : ScoreActivation.Raw;
        }
    }

    /// <summary>Opens a model directory, or an explicit <c>.onnx</c> file inside one.</summary>
    /// <exception cref="SiftException">A required file is missing or malformed; the message says which and how to get it.</exception>
    public static ModelDirectory Open(string path, ModelPrecision precision = ModelPrecision.Fp32)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string root;
        string? onnx = null;
        if (File.Exists(path) && path.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase))
        {
            onnx = Path.GetFullPath(path);
            var dir = Path.GetDirectoryName(onnx)!;
            // onnx/model.onnx lives one level below the directory that holds config.json.
            root = File.Exists(Path.Combine(dir, "config.json")) || Path.GetFileName(dir) != "onnx" ? dir : Path.GetDirectoryName(dir)!;
        }
        else if (Directory.Exists(path))
        {
            root = Path.GetFullPath(path);
        }
        else
        {
            throw new SiftException(
                $"Model not found: '{path}' is neither a model directory nor an .onnx file. " +
                "Pass a Hugging Face model directory (config.json, tokenizer.json, onnx/model.onnx) " +
                "or download one with `sift model pull ORG/NAME`.");
        }

        var configPath = Path.Combine(root, "config.json");
        var config = ReadJsonObject(configPath, required: true)!;
        var stConfig = ReadJsonObject(Path.Combine(root, "config_sentence_transformers.json"), required: false);

        onnx ??= ResolveOnnx(root, precision);
        return new ModelDirectory(root, onnx, config, stConfig);
    }

    private static string ResolveOnnx(string root, ModelPrecision precision)
    {
        // fp16 is made from the fp32 file (see ModelPrecision.Fp16): OnnxPath names the source that is converted.
        string[] candidates = precision == ModelPrecision.Int8
            ? ["onnx/model_quantized.onnx", "model_quantized.onnx", "onnx/model_int8.onnx", "onnx/model_qint8_avx512_vnni.onnx"]
            : ["onnx/model.onnx", "model.onnx"];
        foreach (var c in candidates)
        {
            var p = Path.Combine(root, c);
            if (File.Exists(p))
            {
                return p;
            }
        }
        var want = precision == ModelPrecision.Int8 ? "onnx/model_quantized.onnx" : "onnx/model.onnx";
        throw new SiftException(
            $"{root}: no ONNX weights for precision {precision.ToString().ToLowerInvariant()} (looked for {string.Join(", ", candidates)}). " +
            $"Download the model's ONNX export (`sift model pull ORG/NAME` fetches {want}), " +
            "export one with `optimum-cli export onnx --task text-classification`, or pass the .onnx file path directly.");
    }

    internal static JsonObject? ReadJsonObject(string path, bool required)
    {
        if (!File.Exists(path))
        {
            if (!required)
            {
                return null;
            }
            throw new SiftException(
                $"Missing {Path.GetFileName(path)} in {Path.GetDirectoryName(path)}: a Hugging Face model directory needs it. " +
                "Download the complete model with `sift model pull ORG/NAME` or copy the file from the model's hub page.");
        }
        try
        {
            return JsonNode.Parse(File.ReadAllText(path)) as JsonObject
                   ?? throw new SiftException($"{path}: expected a JSON object. Re-download the file from the model's hub page.");
        }
        catch (JsonException ex)
        {
            throw new SiftException($"{path}: malformed JSON ({ex.Message}). Re-download the file from the model's hub page.", ex);
        }
    }
}
