using System.IO.Compression;
using System.Text;

namespace T2VTurbo.Tests;

/// <summary>Emits protocol-2 pickle opcodes by hand, the way CPython's pickler lays them out, so tests can build
/// torch.save archives with exactly the structure they need (shared storages, strided views, nested dicts,
/// malicious globals).</summary>
internal sealed class PickleBuilder
{
    private readonly MemoryStream ms = new();

    public PickleBuilder() { ms.WriteByte(0x80); ms.WriteByte(2); }   // PROTO 2

    public PickleBuilder Op(char op) { ms.WriteByte((byte)op); return this; }
    public PickleBuilder Raw(params byte[] bytes) { ms.Write(bytes); return this; }
    public PickleBuilder Mark() => Op('(');
    public PickleBuilder Tuple() => Op('t');
    public PickleBuilder EmptyTuple() => Op(')');
    public PickleBuilder Reduce() => Op('R');
    public PickleBuilder EmptyDict() => Op('}');
    public PickleBuilder SetItems() => Op('u');
    public PickleBuilder EmptyList() => Op(']');
    public PickleBuilder Appends() => Op('e');
    public PickleBuilder False() { ms.WriteByte(0x89); return this; }
    public PickleBuilder None() => Op('N');

    public PickleBuilder Global(string module, string name)
    {
        Op('c');
        ms.Write(Encoding.ASCII.GetBytes($"{module}\n{name}\n"));
        return this;
    }

    public PickleBuilder Str(string s)
    {
        var b = Encoding.UTF8.GetBytes(s);
        Op('X');
        ms.Write(BitConverter.GetBytes(b.Length));
        ms.Write(b);
        return this;
    }

    /// <summary>SHORT_BINUNICODE (protocol 4).</summary>
    public PickleBuilder ShortStr(string s)
    {
        var b = Encoding.UTF8.GetBytes(s);
        ms.WriteByte(0x8c);
        ms.WriteByte(checked((byte)b.Length));
        ms.Write(b);
        return this;
    }

    public PickleBuilder Int(long v)
    {
        Op('J');
        ms.Write(BitConverter.GetBytes(checked((int)v)));
        return this;
    }

    public PickleBuilder IntTuple(long[] values)
    {
        Mark();
        foreach (var v in values) Int(v);
        return Tuple();
    }

    /// <summary><c>_rebuild_tensor_v2(('storage', torch.&lt;type&gt;, key, 'cpu', numel), offset, size, stride, False, OrderedDict())</c>.</summary>
    public PickleBuilder Tensor(string storageType, string key, long numel, long offset, long[] size, long[] stride)
    {
        Global("torch._utils", "_rebuild_tensor_v2").Mark();
        Mark().Str("storage").Global("torch", storageType).Str(key).Str("cpu").Int(numel).Tuple().Op('Q');
        Int(offset).IntTuple(size).IntTuple(stride).False().Global("collections", "OrderedDict").EmptyTuple().Reduce();
        return Tuple().Reduce();
    }

    public byte[] Finish()
    {
        Op('.');
        return ms.ToArray();
    }
}

/// <summary>Writes a torch.save-layout zip: &lt;name&gt;/data.pkl, &lt;name&gt;/data/&lt;key&gt;, byteorder, version.</summary>
internal static class TorchZipWriter
{
    public static void Write(string path, byte[] pickle, IReadOnlyDictionary<string, byte[]> storages,
        string archiveName = "archive", string? byteOrder = "little")
    {
        using var fs = File.Create(path);
        using var zip = new ZipArchive(fs, ZipArchiveMode.Create);
        void Add(string name, byte[] bytes)
        {
            using var s = zip.CreateEntry($"{archiveName}/{name}", CompressionLevel.NoCompression).Open();
            s.Write(bytes);
        }
        Add("data.pkl", pickle);
        if (byteOrder != null) Add("byteorder", Encoding.ASCII.GetBytes(byteOrder));
        foreach (var (key, bytes) in storages) Add($"data/{key}", bytes);
        Add("version", Encoding.ASCII.GetBytes("3\n"));
    }
}
