using System.Text.Json.Nodes;
using T2VTurbo.Video;
using TorchSharp;
using static TorchSharp.torch;

namespace T2VTurbo.Training.Data;

/// <summary>How clips are cut from videos (spec §4.1/§4.3; names as the reference's arguments, defaults its values).</summary>
/// <param name="n_frames">Frames per clip.</param>
/// <param name="fps">Sampling fps: the stride is round(native_fps / fps); videos slower than this are skipped.</param>
/// <param name="height">Output height (the reference's resolution [40,64]·8 = 320×512).</param>
/// <param name="width">Output width.</param>
public sealed record ClipOptions(int n_frames = 16, int fps = 16, int height = 320, int width = 512)
{
    public void Validate()
    {
        if (n_frames < 1 || fps < 1 || height < 1 || width < 1)
            throw new ArgumentException($"clip options must be positive: n_frames {n_frames}, fps {fps}, size {height}x{width}");
    }

    public static ClipOptions FromJson(JsonObject o)
    {
        var d = new ClipOptions();
        return new ClipOptions(o["n_frames"]?.GetValue<int>() ?? d.n_frames, o["fps"]?.GetValue<int>() ?? d.fps,
            o["height"]?.GetValue<int>() ?? d.height, o["width"]?.GetValue<int>() ?? d.width);
    }
}

/// <summary>The result of cutting one clip: the frames, or why there are none.</summary>
public sealed record ClipOutcome(VideoFrames? Frames, SkipReason Skip, string Message, int NativeFps = 0, int Stride = 0, int Start = 0)
{
    public bool Ok => Frames is not null;
}

/// <summary>Cuts training clips as the v1 reference's decoder does (spec §4.3, video2dataset's VideoDecorder with
/// fps=[16]): native_fps = round(avg_fps); skip if native_fps &lt; fps; stride = round(native_fps / fps); n_frames frames
/// start, start+stride, … with start uniform in [0, len − n_frames·stride); then every frame resized directly to
/// height×width with Lanczos (the center crop that follows in the reference is a no-op at that size).
/// Only the clip's frames are decoded (ffmpeg seeks to the first one).</summary>
public sealed class ClipSampler
{
    private readonly DecodedVideoCache? cache;

    /// <summary>Folder beside the videos where the decoded cache keeps its copies (see <c>cacheBytes</c>).</summary>
    public const string DiskCacheFolder = ".t2v-cache";

    public ClipOptions Options { get; }

    /// <param name="cacheBytes">&gt; 0: keep whole decoded videos (at the target size) in memory up to this many bytes and
    /// cut later clips from them; the frames are the same bytes as seeking decodes (tested), only faster. Each decoded
    /// video is also stored in <see cref="DiskCacheFolder"/> beside it, for the next run over the same data.</param>
    public ClipSampler(ClipOptions? options = null, long cacheBytes = 0)
    {
        Options = options ?? new ClipOptions();
        Options.Validate();
        if (cacheBytes > 0) cache = new DecodedVideoCache(cacheBytes);
    }

    /// <summary>numpy's round (half to even), as the reference applies to decord's average fps.</summary>
    public static int NativeFps(double avgFps) => (int)Math.Round(avgFps, MidpointRounding.ToEven);

    /// <summary>round(native_fps / fps), half to even like numpy (24 → 16 fps gives 2).</summary>
    public static int StrideFor(int nativeFps, int fps) => (int)Math.Round((double)nativeFps / fps, MidpointRounding.ToEven);

    /// <summary>First frame of the clip, or -1 when the video is too short. A video that fits exactly starts at 0
    /// (spec §4.3 step 2); otherwise start ~ U{0, …, len − n·stride − 1}, one draw from <paramref name="rng"/>.</summary>
    public static int StartFrame(int frameCount, int nFrames, int stride, Random rng)
    {
        long span = (long)nFrames * stride;
        if (frameCount < span) return -1;
        return frameCount == span ? 0 : rng.Next(frameCount - (int)span);
    }

    /// <summary>Cuts one clip. Per-file problems (missing, corrupt, too short, too slow) come back as a skip with a
    /// message, never as an exception; a missing ffmpeg still throws, since then no video can be read.</summary>
    public ClipOutcome Sample(string path, Random rng)
    {
        var o = Options;
        VideoInfo info;
        try { info = cache?.Probe(path) ?? VideoReader.Probe(path); }
        catch (VideoReadException e) { return new ClipOutcome(null, SkipReason.Unreadable, e.Message); }
        int native = NativeFps(info.AvgFps);
        if (native < o.fps)
            return new ClipOutcome(null, SkipReason.LowFps, $"{path}: native fps {info.AvgFps:0.##} < sampling fps {o.fps}", native);
        int stride = StrideFor(native, o.fps);
        int start = StartFrame(info.FrameCount, o.n_frames, stride, rng);
        if (start < 0)
            return new ClipOutcome(null, SkipReason.TooShort,
                $"{path}: {info.FrameCount} frames, a clip needs {o.n_frames} × stride {stride} = {o.n_frames * stride}", native, stride);
        VideoFrames frames;
        try { frames = cache?.Cut(info, start, stride, o.n_frames, o.width, o.height) ?? VideoReader.ReadFrames(info, start, stride, o.n_frames, o.width, o.height); }
        catch (VideoReadException e) { return new ClipOutcome(null, SkipReason.Unreadable, e.Message, native, stride, start); }
        if (frames.Frames < o.n_frames)        // the index promised more frames than the stream decodes to (truncated file)
            return new ClipOutcome(null, SkipReason.TooShort,
                $"{path}: decoded {frames.Frames} of {o.n_frames} frames from frame {start} (stride {stride})", native, stride, start);
        return new ClipOutcome(frames, SkipReason.None, "", native, stride, start);
    }

    /// <summary>Frames as the model's pixel input [3, T, H, W] in [-1, 1]: ((v/255).clamp(0, 1) − 0.5) / 0.5, the
    /// reference's order of operations (spec §4.3 step 4).</summary>
    public static Tensor ToTensor(VideoFrames frames)
    {
        using var scope = torch.NewDisposeScope();
        var thwc = torch.tensor(frames.Rgb, new long[] { frames.Frames, frames.Height, frames.Width, 3 });   // [T, H, W, 3] uint8
        var x = ((thwc.to(ScalarType.Float32) / 255).clamp(0, 1) - 0.5) / 0.5;
        return x.permute(3, 0, 1, 2).contiguous().MoveToOuterDisposeScope();                              // [3, T, H, W]
    }

    /// <summary>Several clips of equal shape as one batch [B, 3, T, H, W] in [-1, 1].</summary>
    public static Tensor ToTensor(IReadOnlyList<VideoFrames> clips)
    {
        if (clips.Count == 0) throw new ArgumentException("no clips to batch");
        var first = clips[0];
        if (clips.Any(c => (c.Frames, c.Height, c.Width) != (first.Frames, first.Height, first.Width)))
            throw new ArgumentException($"clips differ in shape: {string.Join(", ", clips.Select(c => $"[{c.Frames},{c.Height},{c.Width}]"))}");
        var bytes = new byte[clips.Sum(c => (long)c.Rgb.Length)];
        long offset = 0;
        foreach (var c in clips) { c.Rgb.CopyTo(bytes, offset); offset += c.Rgb.Length; }
        using var scope = torch.NewDisposeScope();
        var bthwc = torch.tensor(bytes, new long[] { clips.Count, first.Frames, first.Height, first.Width, 3 });  // [B, T, H, W, 3]
        var x = ((bthwc.to(ScalarType.Float32) / 255).clamp(0, 1) - 0.5) / 0.5;
        return x.permute(0, 4, 1, 2, 3).contiguous().MoveToOuterDisposeScope();                                   // [B, 3, T, H, W]
    }
}
