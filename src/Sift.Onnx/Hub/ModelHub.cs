using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text.Json;

namespace Sift.Onnx;

/// <summary>Progress of a model download: the file in flight and byte counts across the whole model.</summary>
public readonly record struct DownloadProgress(string File, long FileBytesDone, long FileBytesTotal, long BytesDone, long BytesTotal);

/// <summary>One file of a hub repository as its tree API lists it.</summary>
public sealed record HubFile(string Path, long Size, string GitOid, string? Sha256);

/// <summary>
/// Downloads a model directory from the Hugging Face hub (or any server with the same URL layout, set by
/// HF_ENDPOINT) into the local cache. Downloads resume from <c>.part</c> files and every file is verified
/// against the hub's checksum (sha256 for LFS files, git blob sha1 for the rest) before it is kept.
/// </summary>
public sealed class ModelHub
{
    private readonly HttpClient _http;
    private readonly Uri _endpoint;

    public ModelHub(HttpClient? http = null, string? endpoint = null, string? token = null)
    {
        _http = http ?? new HttpClient { Timeout = TimeSpan.FromMinutes(30) };
        var ep = endpoint ?? Environment.GetEnvironmentVariable("HF_ENDPOINT") ?? "https://huggingface.co";
        _endpoint = new Uri(ep.TrimEnd('/') + "/");
        token ??= Environment.GetEnvironmentVariable("HF_TOKEN");
        if (!string.IsNullOrEmpty(token))
        {
            _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }
        if (_http.DefaultRequestHeaders.UserAgent.Count == 0)
        {
            _http.DefaultRequestHeaders.UserAgent.ParseAdd("sift/0.1");
        }
    }

    /// <summary>
    /// Which files a reranker or bi-encoder needs: configs, tokenizer files, pooling modules and the ONNX weights of
    /// the requested precisions. PyTorch/TF/Flax/OpenVINO weights and the many ONNX variants are skipped.
    /// </summary>
    public static bool IsWanted(string path, IReadOnlyCollection<ModelPrecision> precisions)
    {
        if (path.StartsWith("onnx/", StringComparison.Ordinal))
        {
            return (precisions.Contains(ModelPrecision.Fp32) && path == "onnx/model.onnx")
                   || (precisions.Contains(ModelPrecision.Int8) && path == "onnx/model_quantized.onnx");
        }
        if (path is "model.onnx") return precisions.Contains(ModelPrecision.Fp32);
        var dir = System.IO.Path.GetDirectoryName(path) ?? "";
        var ext = System.IO.Path.GetExtension(path);
        var inModuleDir = dir.Length == 0 || (char.IsAsciiDigit(dir[0]) && dir.Contains('_') && !dir.Contains('/'));
        return inModuleDir && ext is ".json" or ".txt" or ".model" && !path.EndsWith("README.md", StringComparison.Ordinal);
    }

    /// <summary>Lists a repository's files at a revision (recursively, following pagination).</summary>
    public async Task<IReadOnlyList<HubFile>> ListFilesAsync(string repoId, string revision = "main", CancellationToken cancellationToken = default)
    {
        ModelLocator.ValidateRepoId(repoId);
        var files = new List<HubFile>();
        Uri? url = new(_endpoint, $"api/models/{repoId}/tree/{Uri.EscapeDataString(revision)}?recursive=true");
        while (url is not null)
        {
            using var response = await _http.GetAsync(url, cancellationToken).ConfigureAwait(false);
            if (response.StatusCode is HttpStatusCode.NotFound or HttpStatusCode.Unauthorized)
            {
                throw new SiftException($"Model '{repoId}' (revision {revision}) was not found at {_endpoint}. Check the id on the hub; gated or private models need HF_TOKEN.");
            }
            response.EnsureSuccessStatusCode();
            await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
            using var doc = await JsonDocument.ParseAsync(stream, cancellationToken: cancellationToken).ConfigureAwait(false);
            foreach (var e in doc.RootElement.EnumerateArray())
            {
                if (e.GetProperty("type").GetString() != "file") continue;
                string? sha = e.TryGetProperty("lfs", out var lfs) && lfs.ValueKind == JsonValueKind.Object ? lfs.GetProperty("oid").GetString() : null;
                files.Add(new HubFile(e.GetProperty("path").GetString()!, e.GetProperty("size").GetInt64(), e.GetProperty("oid").GetString()!, sha));
            }
            url = NextLink(response);
        }
        return files;
    }

    /// <summary>
    /// Downloads the files a model needs into <paramref name="targetDir"/> (default: the cache path for the id) and
    /// returns that directory. Already-complete, verified files are skipped, partial ones resumed.
    /// </summary>
    public async Task<string> PullAsync(string repoId, string revision = "main", IReadOnlyCollection<ModelPrecision>? precisions = null,
        string? targetDir = null, IProgress<DownloadProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        precisions ??= [ModelPrecision.Fp32, ModelPrecision.Int8];
        targetDir ??= ModelLocator.CachePathFor(repoId);
        var all = await ListFilesAsync(repoId, revision, cancellationToken).ConfigureAwait(false);
        // config.json last: its presence is what marks a cached model as usable.
        var wanted = all.Where(f => IsWanted(f.Path, precisions)).OrderBy(f => f.Path == "config.json").ToList();
        if (!wanted.Any(f => f.Path == "config.json"))
        {
            throw new SiftException($"'{repoId}' has no config.json; it is not a transformers model repository.");
        }
        if (!wanted.Any(f => f.Path.EndsWith(".onnx", StringComparison.Ordinal)))
        {
            throw new SiftException(
                $"'{repoId}' has no ONNX weights for {string.Join("/", precisions).ToLowerInvariant()} (onnx/model.onnx or onnx/model_quantized.onnx). " +
                "Export it with `optimum-cli export onnx --model " + repoId + " --task text-classification DIR` and pass --model DIR.");
        }

        Directory.CreateDirectory(targetDir);
        var total = wanted.Sum(f => f.Size);
        long done = 0;
        foreach (var file in wanted)
        {
            var dest = Path.Combine(targetDir, file.Path.Replace('/', Path.DirectorySeparatorChar));
            Directory.CreateDirectory(Path.GetDirectoryName(dest)!);
            if (File.Exists(dest) && new FileInfo(dest).Length == file.Size && await VerifyAsync(dest, file, cancellationToken).ConfigureAwait(false))
            {
                done += file.Size;
                progress?.Report(new DownloadProgress(file.Path, file.Size, file.Size, done, total));
                continue;
            }
            var before = done;
            await DownloadFileAsync(repoId, revision, file, dest,
                p => progress?.Report(new DownloadProgress(file.Path, p, file.Size, before + p, total)), cancellationToken).ConfigureAwait(false);
            done = before + file.Size;
        }
        return targetDir;
    }

    private async Task DownloadFileAsync(string repoId, string revision, HubFile file, string dest, Action<long> report, CancellationToken ct)
    {
        var part = dest + ".part";
        for (var attempt = 0; attempt < 2; attempt++)
        {
            long have = File.Exists(part) ? new FileInfo(part).Length : 0;
            if (have > file.Size)
            {
                File.Delete(part);
                have = 0;
            }
            var url = new Uri(_endpoint, $"{repoId}/resolve/{Uri.EscapeDataString(revision)}/{file.Path}");
            using var request = new HttpRequestMessage(HttpMethod.Get, url);
            if (have > 0 && have < file.Size)
            {
                request.Headers.Range = new RangeHeaderValue(have, null);
            }
            if (have < file.Size || file.Size == 0)
            {
                using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
                if (!response.IsSuccessStatusCode)
                {
                    throw new SiftException($"Downloading {repoId}/{file.Path} failed: HTTP {(int)response.StatusCode} {response.ReasonPhrase}. Run the command again to resume.");
                }
                // 206: the server honoured the range, so append; 200: it sent the whole file, so start over.
                var append = response.StatusCode == HttpStatusCode.PartialContent;
                if (!append) have = 0;
                await using (var output = new FileStream(part, append ? FileMode.Append : FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true))
                await using (var input = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false))
                {
                    var buffer = new byte[1 << 16];
                    int read;
                    while ((read = await input.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
                    {
                        await output.WriteAsync(buffer.AsMemory(0, read), ct).ConfigureAwait(false);
                        have += read;
                        report(have);
                    }
                }
            }
            if (await VerifyAsync(part, file, ct).ConfigureAwait(false))
            {
                File.Move(part, dest, overwrite: true);
                return;
            }
            // A corrupt partial file (or a server that changed the file) : discard and fetch once more from scratch.
            File.Delete(part);
        }
        throw new SiftException($"Downloading {repoId}/{file.Path}: checksum mismatch after a fresh retry; the download is corrupt. Try again later.");
    }

    /// <summary>sha256 for LFS files; git's blob sha1 (<c>"blob {size}\0" + content</c>) for plain files.</summary>
    public static async Task<bool> VerifyAsync(string path, HubFile file, CancellationToken ct = default)
    {
        var info = new FileInfo(path);
        if (info.Length != file.Size) return false;
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, useAsync: true);
        string actual;
        if (file.Sha256 is not null)
        {
            actual = Convert.ToHexStringLower(await SHA256.HashDataAsync(stream, ct).ConfigureAwait(false));
            return string.Equals(actual, file.Sha256, StringComparison.OrdinalIgnoreCase);
        }
        using var sha1 = IncrementalHash.CreateHash(HashAlgorithmName.SHA1);
        sha1.AppendData(System.Text.Encoding.ASCII.GetBytes($"blob {info.Length}\0"));
        var buffer = new byte[1 << 16];
        int read;
        while ((read = await stream.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
        {
            sha1.AppendData(buffer, 0, read);
        }
        actual = Convert.ToHexStringLower(sha1.GetHashAndReset());
        return string.Equals(actual, file.GitOid, StringComparison.OrdinalIgnoreCase);
    }

    private Uri? NextLink(HttpResponseMessage response)
    {
        if (!response.Headers.TryGetValues("Link", out var links)) return null;
        foreach (var link in links.SelectMany(l => l.Split(',')))
        {
            if (!link.Contains("rel=\"next\"", StringComparison.Ordinal)) continue;
            var start = link.IndexOf('<');
            var end = link.IndexOf('>');
            if (start >= 0 && end > start) return new Uri(_endpoint, link[(start + 1)..end]);
        }
        return null;
    }
}
