using System.IO.Compression;
using System.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace T2VTurbo.IO;

/// <summary>Writes a list of float32 tensors the way <c>torch.save([t0, t1, …], path)</c> does (zip archive with
/// archive/data.pkl, archive/data/&lt;key&gt;, byteorder, version), e.g. the official unet_lora.pt layout (spec §3.3).
/// The pickle uses only the globals torch.FloatStorage, torch._utils._rebuild_tensor_v2 and
/// collections.OrderedDict, so the restricted reader (and torch.load(weights_only=True)) accepts it. Written
/// atomically.</summary>
public static class TorchPickleWriter
{
    public static void WriteTensorList(string path, IReadOnlyList<Tensor> tensors)
    {
        var pickle = new MemoryStream();
        void Op(byte b) => pickle.WriteByte(b);
        void Str(string s) { var b = Encoding.UTF8.GetBytes(s); Op((byte)'X'); pickle.Write(BitConverter.GetBytes(b.Length)); pickle.Write(b); }
        void Int(long v) { Op((byte)'J'); pickle.Write(BitConverter.GetBytes(checked((int)v))); }
        void Global(string module, string name) { Op((byte)'c'); pickle.Write(Encoding.ASCII.GetBytes($"{module}\n{name}\n")); }
        void IntTuple(long[] v) { Op((byte)'('); foreach (var x in v) Int(x); Op((byte)'t'); }

        Op(0x80); Op(2);                 // PROTO 2
        Op((byte)']');                   // EMPTY_LIST
        Op((byte)'(');                   // MARK
        var storages = new List<byte[]>();
        for (int i = 0; i < tensors.Count; i++)
        {
            using var t = tensors[i].detach().to(ScalarType.Float32, torch.CPU).contiguous();
            storages.Add(t.bytes.ToArray());
            var stride = ContiguousStride(t.shape);
            Global("torch._utils", "_rebuild_tensor_v2");
            Op((byte)'(');
            Op((byte)'('); Str("storage"); Global("torch", "FloatStorage"); Str(i.ToString()); Str("cpu"); Int(t.numel()); Op((byte)'t');
            Op((byte)'Q');               // BINPERSID
            Int(0); IntTuple(t.shape); IntTuple(stride); Op(0x89);   // offset, size, stride, requires_grad=False
            Global("collections", "OrderedDict"); Op((byte)')'); Op((byte)'R');   // backward_hooks = OrderedDict()
            Op((byte)'t'); Op((byte)'R');
        }
        Op((byte)'e');                   // APPENDS
        Op((byte)'.');

        AtomicFile.Write(path, fs =>
        {
            using var zip = new ZipArchive(fs, ZipArchiveMode.Create, leaveOpen: true);
            void Add(string name, byte[] bytes)
            {
                using var s = zip.CreateEntry($"archive/{name}", CompressionLevel.NoCompression).Open();
                s.Write(bytes);
            }
            Add("data.pkl", pickle.ToArray());
            Add("byteorder", Encoding.ASCII.GetBytes("little"));
            for (int i = 0; i < storages.Count; i++) Add($"data/{i}", storages[i]);
            Add("version", Encoding.ASCII.GetBytes("3\n"));
        });
    }

    private static long[] ContiguousStride(long[] shape)
    {
        var stride = new long[shape.Length];
        long s = 1;
        for (int i = shape.Length - 1; i >= 0; i--) { stride[i] = s; s *= shape[i]; }
        return stride;
    }
}
