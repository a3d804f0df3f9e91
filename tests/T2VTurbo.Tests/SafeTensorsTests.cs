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

    [Fact]
    public void Reads_a_tensor_stored_past_the_2_GiB_mark()
    {
        // A sparse file: 2 GiB + 8 bytes of padding tensor (never read) and then a small tensor, so its offset
        // does not fit an int. Costs no disk space and no memory.
        var path = Path.Combine(Path.GetTempPath(), $"big-{Guid.NewGuid():N}.safetensors");
        long pad = (1L << 31) + 8;
        string json = $"{{\"pad\":{{\"dtype\":\"U8\",\"shape\":[{pad}],\"data_offsets\":[0,{pad}]}}," +
                      $"\"w\":{{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[{pad},{pad + 16}]}}}}";
        var header = System.Text.Encoding.UTF8.GetBytes(json.PadRight((json.Length + 7) / 8 * 8));
        try
        {
            using (var fs = new FileStream(path, FileMode.CreateNew))
            {
                fs.Write(BitConverter.GetBytes((long)header.Length));
                fs.Write(header);
                fs.SetLength(8 + header.Length + pad);
                fs.Seek(0, SeekOrigin.End);
                foreach (var v in new[] { 1f, 2f, 3f, 4f }) fs.Write(BitConverter.GetBytes(v));
            }
            using var f = new SafeTensorsFile(path);
            Assert.Equal(new long[] { pad }, f.Shape("pad"));
            using var w = f.Load("w");
            Assert.Equal(new[] { 1f, 2f, 3f, 4f }, w.data<float>().ToArray());
        }
        finally { File.Delete(path); }
    }
}
