using T2VTurbo.Build;
using TorchSharp;
using Xunit;

namespace T2VTurbo.Tests;

public class ElfPatchTests
{
    private static string PackageCopy()
    {
        var nuget = Environment.GetEnvironmentVariable("NUGET_PACKAGES")
                    ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        return Path.Combine(nuget, "torchsharp", "0.107.0", "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
    }

    [Fact]
    public void Weakening_sets_only_the_GLIBCXX_3_4_32_flag()
    {
        var src = PackageCopy();
        Assert.True(File.Exists(src), $"TorchSharp's native library not found in the NuGet cache: {src}");
        var tmp = Path.Combine(Path.GetTempPath(), $"libLibTorchSharp-{Guid.NewGuid():N}.so");
        File.Copy(src, tmp);
        try
        {
            var before = File.ReadAllBytes(tmp);
            var offsets = ElfVersionNeedPatcher.FindVernauxFlagOffsets(before, "GLIBCXX_3.4.32", out bool weakBefore);
            Assert.Single(offsets);
            Assert.False(weakBefore);

            Assert.Equal(ElfVersionNeedPatcher.Result.Patched, ElfVersionNeedPatcher.MarkWeak(tmp, "GLIBCXX_3.4.32"));
            var after = File.ReadAllBytes(tmp);
            Assert.Equal(before.Length, after.Length);
            var changed = Enumerable.Range(0, before.Length).Where(i => before[i] != after[i]).ToArray();
            Assert.Equal(new[] { offsets[0] }, changed);                       // one byte of vna_flags
            Assert.Equal(ElfVersionNeedPatcher.VerFlgWeak, BitConverter.ToUInt16(after, offsets[0]) & ElfVersionNeedPatcher.VerFlgWeak);
            Assert.Equal(ElfVersionNeedPatcher.Result.AlreadyWeak, ElfVersionNeedPatcher.MarkWeak(tmp, "GLIBCXX_3.4.32"));
            Assert.Equal(ElfVersionNeedPatcher.Result.NotNeeded, ElfVersionNeedPatcher.MarkWeak(tmp, "GLIBCXX_9.9.99"));
        }
        finally { File.Delete(tmp); }
    }

    [Fact]
    public void Build_output_is_patched_exactly_when_the_system_lacks_the_version()
    {
        var shipped = Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        Assert.True(File.Exists(shipped), shipped);
        ElfVersionNeedPatcher.FindVernauxFlagOffsets(File.ReadAllBytes(shipped), "GLIBCXX_3.4.32", out bool weak);
        Assert.Equal(!ElfVersionNeedPatcher.SystemLibstdcxxHas("GLIBCXX_3.4.32"), weak);
    }

    [Fact]
    public void TorchSharp_loads_and_computes()
    {
        using var a = torch.arange(6, dtype: torch.float32).reshape(2, 3);
        using var b = a.matmul(a.t());
        Assert.Equal(50f, b[1, 1].item<float>());
    }
}
