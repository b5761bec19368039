using System.Runtime.InteropServices;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Sift.Server.Http;

namespace Sift.Server.Runtime;

/// <summary>
/// Graceful shutdown: new requests are answered 503 with Retry-After (the port stays open, so clients and load
/// balancers get an answer instead of a refused connection), requests in flight finish (up to
/// <see cref="ServerOptions.ShutdownTimeout"/>), then the host stops and the process exits 0.
/// </summary>
public sealed class ShutdownDrain(ModelRegistry registry, ConcurrencyLimiter limiter, IHostApplicationLifetime lifetime, ServerOptions options, ILogger<ShutdownDrain> logger)
{
    private int _started;

    /// <summary>Whether a drain has begun.</summary>
    public bool Draining => Volatile.Read(ref _started) != 0;

    /// <summary>Starts the drain (once; a second call stops at once) and completes when the host has been told to stop.</summary>
    public async Task DrainAsync()
    {
        if (Interlocked.Exchange(ref _started, 1) != 0)
        {
            logger.LogWarning("Second stop signal: stopping without waiting for {InFlight} request(s) in flight", limiter.InFlight);
            lifetime.StopApplication();
            return;
        }
        registry.SetStopping();
        var deadline = DateTime.UtcNow + options.ShutdownTimeout;
        logger.LogInformation("Draining: {InFlight} request(s) in flight; new requests get 503 (up to {Timeout:g})", limiter.InFlight, options.ShutdownTimeout);
        while (limiter.InFlight > 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20).ConfigureAwait(false);
        }
        if (limiter.InFlight > 0)
        {
            logger.LogWarning("Shutdown timeout: {InFlight} request(s) still in flight are cut off", limiter.InFlight);
        }
        lifetime.StopApplication(); // Kestrel then closes the listeners and waits for what is left
    }
}

/// <summary>
/// The host lifetime of <c>sift serve</c>: SIGTERM / SIGINT / SIGQUIT start a <see cref="ShutdownDrain"/> instead of
/// stopping at once (what the default console lifetime does, which closes the port first).
/// </summary>
internal sealed class DrainingLifetime(ShutdownDrain drain) : IHostLifetime, IDisposable
{
    private readonly List<PosixSignalRegistration> _signals = [];

    public Task WaitForStartAsync(CancellationToken cancellationToken)
    {
        foreach (var signal in new[] { PosixSignal.SIGTERM, PosixSignal.SIGINT, PosixSignal.SIGQUIT })
        {
            _signals.Add(PosixSignalRegistration.Create(signal, OnSignal));
        }
        return Task.CompletedTask;
    }

    private void OnSignal(PosixSignalContext context)
    {
        context.Cancel = true; // the drain ends the process, with exit code 0
        _ = drain.DrainAsync();
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public void Dispose()
    {
        foreach (var s in _signals)
        {
            s.Dispose();
        }
    }
}
