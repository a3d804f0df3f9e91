using TorchSharp;
using static TorchSharp.torch;

namespace T2VTurbo.IO;

/// <summary>Moves raw little-endian bytes between streams and CPU tensor storage without an intermediate array
/// of the whole tensor (large tensors go through 1-D slices of at most 1 GiB).</summary>
internal static class TensorBytes
{
    private const long Chunk = 1L << 30;

    public static void ReadInto(Tensor t, Stream s, string what)
    {
        var flat = t.view(-1);
        long elem = t.element_size();
        long perChunk = Math.Max(1, Chunk / elem);
        for (long start = 0; start < flat.numel(); start += perChunk)
        {
            using var part = flat.narrow(0, start, Math.Min(perChunk, flat.numel() - start));
            var span = part.bytes;
            try { s.ReadExactly(span); }
            catch (EndOfStreamException) { throw new InvalidDataException($"{what}: unexpected end of file while reading tensor data"); }
            part.bytes = span;   // no-op when the span aliases the storage; copies otherwise
        }
    }

    public static void WriteFrom(Tensor t, Stream s)
    {
        var flat = t.contiguous().view(-1);
        long elem = t.element_size();
        long perChunk = Math.Max(1, Chunk / elem);
        for (long start = 0; start < flat.numel(); start += perChunk)
        {
            using var part = flat.narrow(0, start, Math.Min(perChunk, flat.numel() - start));
            s.Write(part.bytes);
        }
    }

    /// <summary>Converts a freshly read CPU tensor, disposing the original when a copy was made.</summary>
    public static Tensor Convert(Tensor t, ScalarType? dtype, Device? device)
    {
        var r = t;
        if (dtype is { } d && r.dtype != d) { var c = r.to(d); if (!ReferenceEquals(c, r)) { r.Dispose(); r = c; } }
        if (device is { } dev && r.device.type != dev.type) { var c = r.to(dev); if (!ReferenceEquals(c, r)) { r.Dispose(); r = c; } }
        return r;
    }
}
