using Microsoft.AspNetCore.Http;
using Sift.Server.Runtime;

namespace Sift.Server.Http;

/// <summary>What the registry's state means for a request: the 503s while not ready and the 404 for an unknown model.</summary>
internal static class Readiness
{
    /// <summary>Throws 503 while models are loading (or failed to load, or the server is stopping).</summary>
    public static void EnsureReady(this ModelRegistry registry)
    {
        switch (registry.State)
        {
            case ServerState.Ready:
                return;
            case ServerState.Loading:
                throw new ApiException(StatusCodes.Status503ServiceUnavailable, "model_loading", "the model is still loading; retry shortly") { RetryAfterSeconds = 2 };
            case ServerState.Failed:
                throw new ApiException(StatusCodes.Status503ServiceUnavailable, "unhealthy", "the model failed to load: " + registry.FailureMessage);
            default:
                // Draining: requests in flight finish; new ones are told to go elsewhere or come back.
                throw new ApiException(StatusCodes.Status503ServiceUnavailable, "shutting_down", "the server is shutting down; retry on another instance or after it restarts") { RetryAfterSeconds = 1 };
        }
    }

    /// <summary>The model a request names (null: the default, the first one), or a 404 listing the served ones.</summary>
    public static ServedModel Resolve(this ModelRegistry registry, string? name)
    {
        if (registry.State != ServerState.Stopping)
        {
            registry.EnsureReady(); // a request admitted before a drain began still gets its model while draining
        }
        return registry.Find(name) ?? throw new ApiException(StatusCodes.Status404NotFound, "model_not_found",
            $"model '{name}' is not served here; available: {string.Join(", ", registry.Models.Select(m => m.Name))}", "model");
    }
}
