namespace Sift;

/// <summary>One reranked document.</summary>
/// <param name="Index">Position of the document in the caller's input list.</param>
/// <param name="Score">The ranking score after activation.</param>
/// <param name="Document">The caller's document, passed through unchanged.</param>
/// <param name="Logits">Raw model logits for the winning window (one per label).</param>
/// <param name="Window">For chunked long documents, the window that produced the score; null when the document was scored whole.</param>
public sealed record RerankResult(int Index, float Score, Document Document, float[] Logits, TextWindow? Window = null);

/// <summary>A window of a long document, in character offsets of <see cref="Document.Text"/> (end exclusive).</summary>
public sealed record TextWindow(int Ordinal, int Start, int End, int WindowCount);
