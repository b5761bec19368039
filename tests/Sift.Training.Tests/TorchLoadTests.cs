using Sift.Training.Engine;
using TorchSharp;
using static TorchSharp.torch;

namespace Sift.Training.Tests;

public class TorchLoadTests
{
    [Fact]
    public void TorchSharpLoadsAndBackpropagates()
    {
        TorchRuntime.EnsureLoaded();
        using var x = tensor(new double[] { 1.5, -2.0, 3.0 }, requires_grad: true);
        using var y = (x * x).sum();
        y.backward();
        var g = x.grad!.data<double>().ToArray();
        Assert.Equal(new[] { 3.0, -4.0, 6.0 }, g);
        // On a libstdc++ without GLIBCXX_3.4.32 the loader must have used the patched copy, else the package's own file.
        Assert.Equal(!TorchRuntime.SystemLibStdCxxHas(TorchRuntime.MissingVersion), TorchRuntime.Patched);
    }

    [Fact]
    public void PatchedCopyHasOnlyThatNeedWeak()
    {
        var bytes = File.ReadAllBytes(Path.Combine(TorchRuntime.NativeDirectory(), "libLibTorchSharp.so"));
        var before = ElfVersionPatcher.ReadVersionNeeds(bytes);
        Assert.Contains(before, n => n.Version == TorchRuntime.MissingVersion && (n.Flags & ElfVersionPatcher.VerFlgWeak) == 0);
        Assert.Equal(1, ElfVersionPatcher.MarkWeak(bytes, TorchRuntime.MissingVersion));
        var after = ElfVersionPatcher.ReadVersionNeeds(bytes);
        Assert.Equal(before.Count, after.Count);
        for (int i = 0; i < before.Count; i++)
        {
            bool target = before[i].Version == TorchRuntime.MissingVersion;
            Assert.Equal(target ? (ushort)(before[i].Flags | ElfVersionPatcher.VerFlgWeak) : before[i].Flags, after[i].Flags);
        }
    }
}
