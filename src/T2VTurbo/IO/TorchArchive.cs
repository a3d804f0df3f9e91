using System.IO.Compression;
using System.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace T2VTurbo.IO;

/// <summary>A <c>torch.save</c> zip archive (PyTorch ≥ 1.6): <c>&lt;name&gt;/data.pkl</c> (the object, tensors as
/// persistent ids), <c>&lt;name&gt;/data/&lt;key&gt;</c> (raw storages, uncompressed), optional
/// <c>&lt;name&gt;/byteorder</c>. The pickle is read through the restricted unpickler when the archive opens;
/// storages are read only when a tensor is loaded, streamed from the zip entry into the tensor's memory.
/// System.IO.Compression reads zip64 (files and offsets past 4 GB).</summary>
internal sealed class TorchArchive : IDisposable
{
    private readonly FileStream file;
    private readonly ZipArchive zip;
    private readonly string prefix;

    public string Path { get; }
    /// <summary>The unpickled object: plain containers with <see cref="TorchTensorRef"/> leaves.</summary>
    public object? Root { get; }

    private TorchArchive(string path, FileStream file, ZipArchive zip, string prefix, object? root)
    {
        Path = path;
        this.file = file;
        this.zip = zip;
        this.prefix = prefix;
        Root = root;
    }

    public static TorchArchive Open(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"PyTorch checkpoint not found: {path}", path);
        var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        try
        {
            CheckZipMagic(file, path);
            ZipArchive zip;
            try { zip = new ZipArchive(file, ZipArchiveMode.Read, leaveOpen: true); }
            catch (InvalidDataException e) { throw new InvalidDataException($"{path}: damaged zip archive ({e.Message})", e); }
            try
            {
                var pkl = FindDataPkl(zip, path);
                string prefix = pkl.FullName[..^"data.pkl".Length];
                CheckByteOrder(zip, prefix, path);
                if (pkl.Length > int.MaxValue) throw new InvalidDataException($"{path}: data.pkl is {pkl.Length} bytes, too large for a weights file");
                var bytes = new byte[pkl.Length];
                using (var s = pkl.Open()) s.ReadExactly(bytes);
                var root = RestrictedUnpickler.Load(bytes, $"{path}:{pkl.FullName}", new TorchPickleResolver(path));
                return new TorchArchive(path, file, zip, prefix, root);
            }
            catch
            {
                zip.Dispose();
                throw;
            }
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>Reads the elements a tensor view touches from its storage entry, then lays them out with its
    /// size/stride. Views that do not cover their whole storage (shared storages, slices) are copied into
    /// their own contiguous memory so the result never pins a larger storage.</summary>
    public Tensor ReadTensor(TorchTensorRef t, string what)
    {
        var storage = t.Storage;
        long elem = storage.DType.ElementSize();
        Tensor part;   // storage elements [Offset, End)
        lock (zip)
        {
            var entry = zip.GetEntry($"{prefix}data/{storage.Key}")
                ?? throw new InvalidDataException($"{what}: storage entry '{prefix}data/{storage.Key}' is missing from the archive");
            // Checked before allocating, so a lying persistent id cannot request more memory than the file holds.
            if (entry.Length / elem < storage.Numel)
                throw new InvalidDataException($"{what}: storage '{storage.Key}' has {entry.Length} bytes, expected {storage.Numel} × {storage.DType} (file truncated?)");
            part = torch.empty(t.End - t.Offset, storage.DType, device: torch.CPU);
            try
            {
                using var s = entry.Open();
                Skip(s, t.Offset * elem, what);
                TensorBytes.ReadInto(part, s, what);
            }
            catch
            {
                part.Dispose();
                throw;
            }
        }
        using (part)
        {
            var view = part.as_strided(t.Size, t.Stride, 0);
            if (view.is_contiguous() && view.numel() == part.numel()) return view;
            using (view) return view.contiguous();
        }
    }

    private static void Skip(Stream s, long bytes, string what)
    {
        if (bytes == 0) return;
        if (s.CanSeek) { s.Seek(bytes, SeekOrigin.Current); return; }
        var buffer = new byte[(int)Math.Min(bytes, 1 << 20)];
        for (long left = bytes; left > 0;)
        {
            int n = s.Read(buffer, 0, (int)Math.Min(left, buffer.Length));
            if (n == 0) throw new InvalidDataException($"{what}: unexpected end of storage data");
            left -= n;
        }
    }

    private static void CheckZipMagic(FileStream file, string path)
    {
        Span<byte> head = stackalloc byte[4];
        int n = file.Read(head);
        file.Position = 0;
        if (n == 4 && head[0] == (byte)'P' && head[1] == (byte)'K' && head[2] == 3 && head[3] == 4) return;
        if (n >= 1 && head[0] == 0x80)
            throw new InvalidDataException($"{path}: legacy (PyTorch < 1.6, non-zip) torch.save format is not supported; " +
                "re-save it with torch.save in PyTorch ≥ 1.6, or convert it to safetensors");
        throw new InvalidDataException($"{path}: not a PyTorch checkpoint (not a zip archive)");
    }

    private static ZipArchiveEntry FindDataPkl(ZipArchive zip, string path)
    {
        var candidates = zip.Entries.Where(e => e.FullName.EndsWith("/data.pkl", StringComparison.Ordinal)
                                                && e.FullName.IndexOf('/') == e.FullName.Length - "/data.pkl".Length).ToList();
        if (candidates.Count == 1) return candidates[0];
        if (candidates.Count > 1)
            throw new InvalidDataException($"{path}: several data.pkl entries ({string.Join(", ", candidates.Select(c => c.FullName))})");
        bool torchScript = zip.Entries.Any(e => e.FullName.EndsWith("constants.pkl", StringComparison.Ordinal));
        throw new InvalidDataException($"{path}: zip archive without a <name>/data.pkl entry, so not a torch.save checkpoint" +
            (torchScript ? " (it looks like a TorchScript model; save its state_dict() instead)" : ""));
    }

    private static void CheckByteOrder(ZipArchive zip, string prefix, string path)
    {
        var entry = zip.GetEntry(prefix + "byteorder");
        if (entry == null) return;   // older writers omit it; they were little-endian
        using var reader = new StreamReader(entry.Open(), Encoding.ASCII);
        var order = reader.ReadToEnd().Trim();
        if (order != "little") throw new NotSupportedException($"{path}: tensors are stored {order}-endian; only little-endian checkpoints are supported");
    }

    public void Dispose()
    {
        zip.Dispose();
        file.Dispose();
    }
}
