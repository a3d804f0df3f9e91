using T2VTurbo.IO;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace T2VTurbo.Tests;

/// <summary>Refusals and error messages: malicious globals, corrupted or truncated archives, wrong container kinds.</summary>
public partial class TorchCheckpointTests
{
    /// <summary>Random single-byte corruptions and truncations of a valid pickle must end in a clear error (or a
    /// successful read), never in another exception type, a hang or a crash.</summary>
    [Fact]
    public void Corrupted_pickles_fail_cleanly()
    {
        using var dir = new TempDir();
        var path = dir.File("fuzz.pt");
        var good = LightningExtrasPickle();
        var storage = new Dictionary<string, byte[]> { ["0"] = new byte[6] };
        var rng = new Random(1234);
        int refused = 0;
        for (int iter = 0; iter < 400; iter++)
        {
            var bad = iter % 4 == 3 ? good[..rng.Next(good.Length)] : (byte[])good.Clone();
            if (iter % 4 != 3) bad[rng.Next(bad.Length)] = (byte)rng.Next(256);
            TorchZipWriter.Write(path, bad, storage);
            try
            {
                using var src = TorchCheckpoint.OpenStateDict(path);
                foreach (var k in src.Keys) src.Load(k).Dispose();
            }
            catch (Exception e) when (e is InvalidDataException or UnsafePickleException or NotSupportedException)
            {
                Assert.Contains(path, e.Message);
                refused++;
            }
        }
        Assert.True(refused > 100, $"only {refused} of 400 corruptions were refused");
    }

    [Fact]
    public void Malicious_global_is_refused_and_named()
    {
        using var dir = new TempDir();
        var marker = dir.File("pwned");
        var path = dir.File("evil.pt");
        var p = new PickleBuilder().Global("posix", "system").Mark().Str($"touch {marker}").Tuple().Reduce().Finish();
        TorchZipWriter.Write(path, p, new Dictionary<string, byte[]>());
        var e = Assert.Throws<UnsafePickleException>(() => TorchCheckpoint.OpenStateDict(path));
        Assert.Contains("posix.system is not allowed in a weights file", e.Message);
        Assert.False(File.Exists(marker));
        Assert.Throws<UnsafePickleException>(() => Checkpoint.Open(path));
    }

    [Fact]
    public void Malicious_global_outside_the_state_dict_is_still_refused()
    {
        using var dir = new TempDir();
        var path = dir.File("evil.ckpt");
        var p = new PickleBuilder().EmptyDict().Mark()
            .Str("state_dict").EmptyDict().Mark().Str("w").Tensor("FloatStorage", "0", 1, 0, [1], [1]).SetItems()
            .Str("hyper_parameters").Global("builtins", "eval").Mark().Str("1+1").Tuple().Reduce()
            .SetItems().Finish();
        TorchZipWriter.Write(path, p, new Dictionary<string, byte[]> { ["0"] = Floats(1) });
        var e = Assert.Throws<UnsafePickleException>(() => TorchCheckpoint.OpenStateDict(path));
        Assert.Contains("builtins.eval", e.Message);
    }

    [Fact]
    public void Allowed_global_called_with_the_wrong_role_is_refused()
    {
        using var dir = new TempDir();
        var path = dir.File("odd.pt");
        // A storage type is allowed as a name but is never called by torch.save's zip format.
        var p = new PickleBuilder().Global("torch", "FloatStorage").Mark().Int(3).Tuple().Reduce().Finish();
        TorchZipWriter.Write(path, p, new Dictionary<string, byte[]>());
        var e = Assert.Throws<UnsafePickleException>(() => TorchCheckpoint.OpenStateDict(path));
        Assert.Contains("torch.FloatStorage", e.Message);
    }

    [Fact]
    public void View_past_its_storage_is_refused()
    {
        using var dir = new TempDir();
        var path = dir.File("oob.pt");
        var p = new PickleBuilder().EmptyDict().Mark().Str("w").Tensor("FloatStorage", "0", 4, 2, [3], [1]).SetItems().Finish();
        TorchZipWriter.Write(path, p, new Dictionary<string, byte[]> { ["0"] = Floats(1, 2, 3, 4) });
        var e = Assert.Throws<InvalidDataException>(() => TorchCheckpoint.OpenStateDict(path));
        Assert.Contains("past its storage", e.Message);
    }

    [Fact]
    public void Truncated_storage_is_a_clear_error()
    {
        using var dir = new TempDir();
        var path = dir.File("short.pt");
        var p = new PickleBuilder().EmptyDict().Mark().Str("w").Tensor("FloatStorage", "0", 4, 0, [4], [1]).SetItems().Finish();
        TorchZipWriter.Write(path, p, new Dictionary<string, byte[]> { ["0"] = Floats(1, 2) });
        using var src = TorchCheckpoint.OpenStateDict(path);
        var e = Assert.Throws<InvalidDataException>(() => src.Load("w"));
        Assert.Contains("truncated", e.Message);
    }

    [Fact]
    public void Files_that_are_not_torch_zips_are_clear_errors()
    {
        using var dir = new TempDir();
        var text = dir.File("notes.pt");
        File.WriteAllText(text, "hello, not a checkpoint");
        Assert.Contains("not a zip", Assert.Throws<InvalidDataException>(() => TorchCheckpoint.OpenStateDict(text)).Message);

        var legacy = dir.File("legacy.pt");
        File.WriteAllBytes(legacy, [0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e]);
        Assert.Contains("legacy", Assert.Throws<InvalidDataException>(() => TorchCheckpoint.OpenStateDict(legacy)).Message);

        var noPkl = dir.File("nopkl.pt");
        using (var zip = System.IO.Compression.ZipFile.Open(noPkl, System.IO.Compression.ZipArchiveMode.Create))
            using (var w = new StreamWriter(zip.CreateEntry("archive/version").Open())) w.Write("3");
        Assert.Contains("data.pkl", Assert.Throws<InvalidDataException>(() => TorchCheckpoint.OpenStateDict(noPkl)).Message);

        var bigEndian = dir.File("big.pt");
        TorchZipWriter.Write(bigEndian, new PickleBuilder().EmptyDict().Finish(), new Dictionary<string, byte[]>(), byteOrder: "big");
        Assert.Contains("big-endian", Assert.Throws<NotSupportedException>(() => TorchCheckpoint.OpenStateDict(bigEndian)).Message);
    }

    [Fact]
    public void Dict_file_read_as_a_list_gives_a_hint()
    {
        using var dir = new TempDir();
        var path = dir.File("sd.pt");
        PyBridgeSave(path, ToHashtable(new Dictionary<string, Tensor> { ["w"] = torch.ones(2) }));
        var e = Assert.Throws<InvalidDataException>(() => TorchCheckpoint.ReadTensorList(path));
        Assert.Contains("OpenStateDict", e.Message);
    }
}
