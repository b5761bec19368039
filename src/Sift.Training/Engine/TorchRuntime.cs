using System.Reflection;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using TorchSharp;

namespace Sift.Training.Engine;

/// <summary>
/// Makes TorchSharp loadable before anything touches <see cref="torch"/>. On a distribution whose libstdc++
/// defines GLIBCXX_3.4.32 (GCC 13+) this does nothing. On older ones (Debian 12: up to 3.4.30) it writes a copy of
/// libLibTorchSharp.so with that single version need marked weak (see <see cref="ElfVersionPatcher"/>) into the
/// cache, loads LibTorch's own libraries from the package, then the patched copy, and routes TorchSharp's
/// DllImport("LibTorchSharp") to it. The package files themselves are never modified.
/// </summary>
public static class TorchRuntime
{
    public const string MissingVersion = "GLIBCXX_3.4.32";
    private static readonly object Gate = new();
    private static bool _done;

    /// <summary>What <see cref="EnsureLoaded"/> did: whether a patch was needed, and the library actually used.</summary>
    public static string? LoadedFrom { get; private set; }
    public static bool Patched { get; private set; }

    public static void EnsureLoaded(int? threads = null)
    {
        lock (Gate)
        {
            if (!_done)
            {
                if (OperatingSystem.IsLinux() && RuntimeInformation.ProcessArchitecture == Architecture.X64 && !SystemLibStdCxxHas(MissingVersion))
                    LoadPatched();
                _done = true;
            }
        }
        if (threads is int t && t > 0) torch.set_num_threads(t);
    }

    /// <summary>
    /// A warning when glibc's allocator will hand LibTorch fresh pages every step, or null. Activations above glibc's
    /// mmap ceiling (32 MiB; a micro-batch of 24 pairs x 256 tokens has 75 MB attention scores) are mmapped and
    /// unmapped per allocation, and every reuse page-faults: measured here 48k faults/s, half the CPU time in the
    /// kernel, 0.6 instead of ~4 pairs/s. The settings must be in the environment before the process starts
    /// (glibc reads them once, and threads already own their arenas), so this can only advise; `./sift train` sets them.
    /// </summary>
    public static string? AllocatorAdvice()
    {
        if (!OperatingSystem.IsLinux()) return null;
        if (Environment.GetEnvironmentVariable("MALLOC_ARENA_MAX") is not null && Environment.GetEnvironmentVariable("MALLOC_MMAP_MAX_") is not null) return null;
        return "glibc will return LibTorch's large activations to the kernel after every use (page faults cost several times the compute); "
             + "start the process with MALLOC_ARENA_MAX=1 MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=68719476736 (./sift train sets them)";
    }

    /// <summary>Whether the libstdc++ this process uses (the one the runtime already mapped) defines <paramref name="version"/>.</summary>
    public static bool SystemLibStdCxxHas(string version)
    {
        var path = MappedLibStdCxx() ?? FirstExisting("/usr/lib/x86_64-linux-gnu/libstdc++.so.6", "/lib64/libstdc++.so.6", "/usr/lib64/libstdc++.so.6");
        if (path is null) return true; // nothing to compare against: let TorchSharp report its own error
        return ElfVersionPatcher.ReadVersionDefinitions(File.ReadAllBytes(path)).Contains(version);
    }

    private static string? MappedLibStdCxx()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/maps"))
            {
                int i = line.IndexOf('/');
                if (i >= 0 && line.Contains("libstdc++.so", StringComparison.Ordinal)) return line[i..].Trim();
            }
        }
        catch (IOException) { }
        return null;
    }

    private static string? FirstExisting(params string[] paths) => paths.FirstOrDefault(File.Exists);

    /// <summary>Directory holding the package's libLibTorchSharp.so next to LibTorch (the build output keeps the runtimes/ layout).</summary>
    public static string NativeDirectory()
    {
        var roots = new[] { AppContext.BaseDirectory, Path.GetDirectoryName(typeof(torch).Assembly.Location) ?? "" };
        foreach (var root in roots.Where(r => r.Length > 0))
        {
            foreach (var dir in new[] { root, Path.Combine(root, "runtimes", "linux-x64", "native") })
                if (File.Exists(Path.Combine(dir, "libLibTorchSharp.so")) && File.Exists(Path.Combine(dir, "libtorch_cpu.so"))) return dir;
        }
        throw new DllNotFoundException("libLibTorchSharp.so / libtorch_cpu.so not found under " + string.Join(", ", roots) + " (is TorchSharp-cpu referenced?)");
    }

    private static void LoadPatched()
    {
        var dir = NativeDirectory();
        var original = File.ReadAllBytes(Path.Combine(dir, "libLibTorchSharp.so"));
        var hash = Convert.ToHexString(SHA256.HashData(original))[..16].ToLowerInvariant();
        var cacheDir = Path.Combine(CacheRoot(), "torchsharp", hash);
        var patchedPath = Path.Combine(cacheDir, "libLibTorchSharp.so");
        if (!File.Exists(patchedPath))
        {
            if (ElfVersionPatcher.MarkWeak(original, MissingVersion) == 0)
                throw new DllNotFoundException($"libLibTorchSharp.so in {dir} has no {MissingVersion} need to relax; cannot make it load here.");
            Directory.CreateDirectory(cacheDir);
            var tmp = patchedPath + "." + Environment.ProcessId + ".tmp";
            File.WriteAllBytes(tmp, original);
            File.Move(tmp, patchedPath, overwrite: true);
        }
        // The patched copy lives outside the package directory, so its $ORIGIN runpath no longer finds LibTorch:
        // load LibTorch by full path first; the copy's DT_NEEDED entries then bind to these by soname.
        foreach (var lib in new[] { "libc10.so", "libtorch_cpu.so", "libtorch.so" })
            NativeLibrary.Load(Path.Combine(dir, lib));
        var handle = NativeLibrary.Load(patchedPath);
        NativeLibrary.SetDllImportResolver(typeof(torch).Assembly, (name, _, _) =>
            name is "LibTorchSharp" or "libLibTorchSharp" or "libLibTorchSharp.so" ? handle : IntPtr.Zero);
        LoadedFrom = patchedPath;
        Patched = true;
    }

    private static string CacheRoot()
    {
        var env = Environment.GetEnvironmentVariable("SIFT_CACHE");
        if (!string.IsNullOrEmpty(env)) return env;
        var xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        return Path.Combine(string.IsNullOrEmpty(xdg) ? Path.Combine(home, ".cache") : xdg, "sift");
    }
}
