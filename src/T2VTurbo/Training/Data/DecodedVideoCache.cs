using System.Collections.Concurrent;
using T2VTurbo.Video;

namespace T2VTurbo.Training.Data;

/// <summary>Whole videos decoded once at the training size and kept in memory up to a byte budget; clips are then cut
/// by frame index. Past the budget it declines (returns null) and the caller decodes the clip from the file.</summary>
internal sealed class DecodedVideoCache(long budgetBytes)
{
    private readonly ConcurrentDictionary<string, VideoInfo> probes = new();
    private readonly ConcurrentDictionary<(string Path, int W, int H), VideoFrames> videos = new();
    private long used;

    public VideoInfo Probe(string path) => probes.GetOrAdd(path, p => VideoReader.Probe(p));

    /// <summary>Frames start, start+stride, … (count of them) at width×height, or null when the video does not fit.</summary>
    public VideoFrames? Cut(VideoInfo info, int start, int stride, int count, int width, int height)
    {
        var key = (info.Path, width, height);
        if (!videos.TryGetValue(key, out var all))
        {
            long size = (long)info.FrameCount * width * height * 3;
            if (Interlocked.Read(ref used) + size > budgetBytes) return null;
            all = VideoReader.ReadFrames(info, 0, 1, info.FrameCount, width, height);
            if (videos.TryAdd(key, all)) Interlocked.Add(ref used, all.Rgb.LongLength);
        }
        int available = Math.Max(0, Math.Min(count, (all.Frames - start + stride - 1) / stride));
        var rgb = new byte[available * all.FrameBytes];
        for (int k = 0; k < available; k++)
            all.Frame(start + k * stride).CopyTo(rgb.AsSpan(k * all.FrameBytes));
        return new VideoFrames(rgb, available, all.Height, all.Width);
    }
}
