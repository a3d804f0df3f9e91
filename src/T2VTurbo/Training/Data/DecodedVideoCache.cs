using System.Collections.Concurrent;
using System.Text.Json;
using T2VTurbo.IO;
using T2VTurbo.Video;

namespace T2VTurbo.Training.Data;

/// <summary>Whole videos decoded once at the training size and kept in memory up to a byte budget; clips are then cut
/// by frame index. Past the budget it declines (returns null) and the caller decodes the clip from the file.
/// With <paramref name="persist"/>, every probe and decoded video is also written to <c>.t2v-cache/</c> beside the video
/// (raw RGB, checked against the source's length and modification time), so the next run over the same data — the next
/// stage of a recipe — reads bytes instead of starting ffprobe and ffmpeg for every file (about 0.17 s a clip). A folder
/// that cannot be written is simply not cached on disk.</summary>
internal sealed class DecodedVideoCache(long budgetBytes, bool persist = true)
{
    public const string FolderName = ClipSampler.DiskCacheFolder;
    private readonly ConcurrentDictionary<string, VideoInfo> probes = new();
    private readonly ConcurrentDictionary<(string Path, int W, int H), VideoFrames> videos = new();
    private long used;

    public VideoInfo Probe(string path) => probes.GetOrAdd(path, p =>
    {
        if (persist && ReadProbe(p) is { } cached) return cached;
        var info = VideoReader.Probe(p);
        if (persist)
        {
            var json = JsonSerializer.Serialize(new StoredProbe(Stamp(p), info with { Path = "" }), JsonOptions);
            TryPersist(CachePath(p, "probe.json"), s => s.Write(System.Text.Encoding.UTF8.GetBytes(json)));
        }
        return info;
    });

    /// <summary>Frames start, start+stride, … (count of them) at width×height, or null when the video does not fit.</summary>
    public VideoFrames? Cut(VideoInfo info, int start, int stride, int count, int width, int height)
    {
        var key = (info.Path, width, height);
        if (!videos.TryGetValue(key, out var all))
        {
            long size = (long)info.FrameCount * width * height * 3;
            if (Interlocked.Read(ref used) + size > budgetBytes) return null;
            all = (persist ? ReadFrames(info.Path, width, height) : null) ?? Decode(info, width, height);
            if (videos.TryAdd(key, all)) Interlocked.Add(ref used, all.Rgb.LongLength);
        }
        int available = Math.Max(0, Math.Min(count, (all.Frames - start + stride - 1) / stride));
        var rgb = new byte[available * all.FrameBytes];
        for (int k = 0; k < available; k++)
            all.Frame(start + k * stride).CopyTo(rgb.AsSpan(k * all.FrameBytes));
        return new VideoFrames(rgb, available, all.Height, all.Width);
    }

    private VideoFrames Decode(VideoInfo info, int width, int height)
    {
        var all = VideoReader.ReadFrames(info, 0, 1, info.FrameCount, width, height);
        if (persist)
            TryPersist(CachePath(info.Path, $"{width}x{height}.rgb"), s =>
            {
                var (length, ticks) = Stamp(info.Path);
                using var w = new BinaryWriter(s, System.Text.Encoding.UTF8, leaveOpen: true);
                w.Write(length); w.Write(ticks); w.Write(all.Frames);
                w.Write(all.Rgb);
            });
        return all;
    }

    private sealed record StoredProbe((long Length, long Ticks) Source, VideoInfo Info);

    private static string CachePath(string video, string suffix) =>
        Path.Combine(Path.GetDirectoryName(Path.GetFullPath(video))!, FolderName, $"{Path.GetFileName(video)}.{suffix}");

    /// <summary>The source file's length and modification time: a cached copy is valid only for exactly this file.</summary>
    private static (long Length, long Ticks) Stamp(string path)
    {
        var f = new FileInfo(path);
        return (f.Length, f.LastWriteTimeUtc.Ticks);
    }

    private static VideoInfo? ReadProbe(string path)
    {
        try
        {
            var stored = JsonSerializer.Deserialize<StoredProbe>(File.ReadAllText(CachePath(path, "probe.json")), JsonOptions);
            return stored is not null && stored.Source == Stamp(path) ? stored.Info with { Path = path } : null;
        }
        catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException or NotSupportedException) { return null; }
    }

    private static VideoFrames? ReadFrames(string path, int width, int height)
    {
        try
        {
            using var r = new BinaryReader(File.OpenRead(CachePath(path, $"{width}x{height}.rgb")));
            if ((r.ReadInt64(), r.ReadInt64()) != Stamp(path)) return null;
            int frames = r.ReadInt32();
            long bytes = (long)frames * width * height * 3;
            if (frames < 0 || r.BaseStream.Length - r.BaseStream.Position != bytes) return null;
            return new VideoFrames(r.ReadBytes((int)bytes), frames, height, width);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or EndOfStreamException) { return null; }
    }

    private static readonly JsonSerializerOptions JsonOptions = new() { IncludeFields = true };

    private static void TryPersist(string target, Action<Stream> write)
    {
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            AtomicFile.Write(target, fs => write(fs));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { /* read-only data: memory cache only */ }
    }
}
