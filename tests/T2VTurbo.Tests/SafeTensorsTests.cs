using T2VTurbo.IO;
using T2VTurbo.Tests.Support;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace T2VTurbo.Tests;

public class SafeTensorsTests
{
    [Fact]
    public void Round_trips_every_supported_dtype()
    {
        var path = Path.Combine(Path.GetTempPath(), $"st-{Guid.NewGuid():N}.safetensors");
        var tensors = new Dictionary<string, Tensor>
        {
            ["f32"] = torch.randn(3, 5),
            ["f16"] = torch.randn(2, 7).to(ScalarType.Float16),
            ["bf16"] = torch.randn(4, 1, 3).to(ScalarType.BFloat16),
            ["i64"] = torch.arange(10, dtype: ScalarType.Int64).reshape(2, 5),
            ["scalar"] = torch.tensor(3.5f),
        };
        try
        {
            SafeTensors.Save(path, tensors, new Dictionary<string, string> { ["format"] = "pt" });
            using var f = new SafeTensorsFile(path);
            Assert.Equal("pt", f.Metadata["format"]);
            foreach (var (k, t) in tensors)
            {
                using var r = f.Load(k);
                Assert.Equal(t.dtype, r.dtype);
                Assert.True(t.eq(r).all().item<bool>(), k);
            }
            using var asF32 = f.Load("bf16", ScalarType.Float32);
            Assert.Equal(ScalarType.Float32, asF32.dtype);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void Truncated_file_is_a_clear_error()
    {
        var path = Path.Combine(Path.GetTempPath(), $"st-{Guid.NewGuid():N}.safetensors");
        try
        {
            SafeTensors.Save(path, new Dictionary<string, Tensor> { ["w"] = torch.ones(100) });
            var bytes = File.ReadAllBytes(path);
            File.WriteAllBytes(path, bytes[..^10]);
            var e = Assert.Throws<InvalidDataException>(() => new SafeTensorsFile(path));
            Assert.Contains("'w'", e.Message);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void Reads_fixture_io_file()
    {
        using var f = Fixture.Load("vae");
        Assert.Contains("image", f.Io.Keys);
        using var t = f.In("image");
        Assert.Equal(new long[] { 2, 3, 32, 32 }, t.shape);
    }
}
