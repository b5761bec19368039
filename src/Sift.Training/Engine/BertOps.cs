using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Sift.Training.Engine;

/// <summary>
/// The pieces of Hugging Face's BertForSequenceClassification as functions of explicit weight tensors, so each
/// one can be gradient-checked on its own (tests/Sift.Training.Tests/GradCheckTests) and the model is just their
/// composition. LibTorch's autograd provides the backward passes.
/// </summary>
public static class BertOps
{
    /// <summary>Additive attention bias from a 0/1 mask [B, S]: 0 for real tokens, -10000 for padding (as BERT's ONNX exports do).</summary>
    public static Tensor MaskBias(Tensor mask, ScalarType dtype) =>
        ((1.0 - mask.to_type(dtype)) * -10000.0).view(mask.shape[0], 1, 1, mask.shape[1]);

    public static Tensor Embeddings(Tensor ids, Tensor types, Tensor word, Tensor pos, Tensor type, Tensor lnG, Tensor lnB, double eps, double dropout, bool training)
    {
        long b = ids.shape[0], s = ids.shape[1], h = word.shape[1];
        var x = word.index_select(0, ids.reshape(-1)).view(b, s, h)
              + type.index_select(0, types.reshape(-1)).view(b, s, h)
              + pos.narrow(0, 0, s).unsqueeze(0);
        return F.dropout(LayerNorm(x, lnG, lnB, eps), dropout, training);
    }

    public static Tensor LayerNorm(Tensor x, Tensor g, Tensor b, double eps) => F.layer_norm(x, [x.shape[^1]], g, b, eps);

    public static Tensor Linear(Tensor x, Tensor w, Tensor b) => F.linear(x, w, b);

    /// <summary>Exact (erf) GELU, BERT's "gelu".</summary>
    public static Tensor Gelu(Tensor x) => F.gelu(x);

    public static Tensor Softmax(Tensor x) => F.softmax(x, -1);

    /// <summary>Multi-head self-attention with the padding bias, followed by the output projection (no residual).</summary>
    public static Tensor SelfAttention(Tensor x, Tensor maskBias, int heads,
        Tensor wq, Tensor bq, Tensor wk, Tensor bk, Tensor wv, Tensor bv, Tensor wo, Tensor bo, double dropout, bool training)
    {
        long b = x.shape[0], s = x.shape[1], h = x.shape[2], d = h / heads;
        Tensor Split(Tensor t) => t.view(b, s, heads, d).transpose(1, 2);
        var q = Split(Linear(x, wq, bq));
        var k = Split(Linear(x, wk, bk));
        var v = Split(Linear(x, wv, bv));
        var scores = q.matmul(k.transpose(-1, -2)) / Math.Sqrt(d) + maskBias;
        var probs = F.dropout(Softmax(scores), dropout, training);
        var ctx = probs.matmul(v).transpose(1, 2).reshape(b, s, h);
        return Linear(ctx, wo, bo);
    }

    /// <summary>BERT pooler: dense + tanh on the first ([CLS]) token.</summary>
    public static Tensor Pooler(Tensor hidden, Tensor w, Tensor b) => Linear(hidden.select(1, 0), w, b).tanh();

    /// <summary>Pointwise binary cross-entropy on raw logits [N] against 0/1 labels [N] (mean).</summary>
    public static Tensor BceLoss(Tensor logits, Tensor labels) =>
        F.binary_cross_entropy_with_logits(logits, labels.to_type(logits.dtype));

    /// <summary>
    /// Listwise softmax cross-entropy (multiple-negatives ranking over each query's own candidates): logits [Q, 1+k]
    /// with the positive in column 0; the loss is -log softmax(logits)[:, 0], averaged over queries.
    /// </summary>
    public static Tensor ListwiseLoss(Tensor logits) => -F.log_softmax(logits, 1).select(1, 0).mean();
}
