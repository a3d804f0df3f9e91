using TorchSharp;
using static TorchSharp.torch;

namespace T2VTurbo.Video;

/// <summary>One decoded video as 8-bit RGB frames, row-major [T, H, W, 3].</summary>
public sealed record VideoFrames(byte[] Rgb, int Frames, int Height, int Width)
{
    public int FrameBytes => Height * Width * 3;
    public ReadOnlySpan<byte> Frame(int t) => Rgb.AsSpan(t * FrameBytes, FrameBytes);

    /// <summary>Converts one decoded video [3, T, H, W] in [-1, 1] exactly as the reference saves it (spec §2.4):
    /// clamp to [-1, 1], (x + 1) / 2 · 255, cast to uint8 (truncation, not rounding).</summary>
    public static VideoFrames FromTensor(Tensor video)
    {
        if (video.dim() != 4 || video.shape[0] != 3)
            throw new ArgumentException($"expected a video tensor [3, T, H, W], got [{string.Join(",", video.shape)}]");
        using var scope = torch.NewDisposeScope();
        var v = video.detach().to(ScalarType.Float32).cpu().clamp(-1, 1);
        v = ((v + 1) / 2 * 255).to(ScalarType.Byte);                    // truncates toward zero like torch's .to(uint8)
        var thwc = v.permute(1, 2, 3, 0).contiguous();                  // [T, H, W, 3]
        var bytes = thwc.bytes.ToArray();
        return new VideoFrames(bytes, (int)video.shape[1], (int)video.shape[2], (int)video.shape[3]);
    }

    /// <summary>Splits a batch [B, 3, T, H, W] into one <see cref="VideoFrames"/> per video.</summary>
    public static IReadOnlyList<VideoFrames> FromBatch(Tensor videos)
    {
        if (videos.dim() != 5 || videos.shape[1] != 3)
            throw new ArgumentException($"expected videos [B, 3, T, H, W], got [{string.Join(",", videos.shape)}]");
        var list = new List<VideoFrames>();
        for (long b = 0; b < videos.shape[0]; b++)
        {
            using var one = videos[b];
            list.Add(FromTensor(one));
        }
        return list;
    }
}
