namespace Sift;

/// <summary>
/// A user-facing error: the message names the problem and how to fix it. Surfaces (CLI, server)
/// print the message as-is and never a stack trace.
/// </summary>
public class SiftException : Exception
{
    public SiftException(string message) : base(message) { }
    public SiftException(string message, Exception inner) : base(message, inner) { }
}
