namespace Sift.Tokenizers;

/// <summary>A user-facing tokenizer error: the message names the file and the problem.</summary>
public sealed class TokenizerException : Exception
{
    public TokenizerException(string message) : base(message) { }
    public TokenizerException(string message, Exception inner) : base(message, inner) { }
}
