using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;

namespace T2VTurbo.Video;

/// <summary>Reads videos through ffprobe/ffmpeg subprocesses: <see cref="Probe"/> gets size, fps and the frame
/// timestamps by demuxing only; <see cref="ReadFrames"/> decodes just the frames of a strided clip (seeking to the
/// clip's first frame) and returns them resized as 8-bit RGB.</summary>
public static class VideoReader
{
    /// <summary>Extensions the data sources accept as videos.</summary>
    public static readonly IReadOnlySet<string> VideoExtensions =
        new HashSet<string>(StringComparer.OrdinalIgnoreCase) { ".mp4", ".webm", ".mov", ".mkv", ".avi", ".gif" };

    private static readonly TimeSpan DefaultTimeout = TimeSpan.FromMinutes(2);
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static VideoInfo Probe(string path, TimeSpan? timeout = null)
    {
        if (!File.Exists(path)) throw new VideoReadException(path, "file not found");
        var (rc, stdout, stderr) = Run("ffprobe", new[] { "-v", "error", "-select_streams", "v:0", "-show_entries",
            "stream=width,height,avg_frame_rate,r_frame_rate:packet=pts_time,flags", "-of", "json", FileUrl(path) }, path, timeout ?? DefaultTimeout);
        if (rc != 0) throw new VideoReadException(path, $"ffprobe failed: {FirstLines(stderr)}");
        JsonNode root;
        try { root = JsonNode.Parse(System.Text.Encoding.UTF8.GetString(stdout))!; }
        catch (System.Text.Json.JsonException e) { throw new VideoReadException(path, "ffprobe printed unreadable JSON", e); }
        var stream = (root["streams"] as JsonArray)?.FirstOrDefault();
        if (stream is null) throw new VideoReadException(path, "no video stream");
        int width = stream["width"]?.GetValue<int>() ?? 0, height = stream["height"]?.GetValue<int>() ?? 0;
        if (width <= 0 || height <= 0) throw new VideoReadException(path, $"video stream has no frame size ({width}x{height})");
        double fps = Rate(stream["avg_frame_rate"]);
        if (!(fps > 0)) fps = Rate(stream["r_frame_rate"]);
        if (!(fps > 0)) throw new VideoReadException(path, "video stream has no frame rate");

        var times = new List<double>();
        bool allTimed = true;
        foreach (var p in root["packets"] as JsonArray ?? new JsonArray())
        {
            if ((p?["flags"]?.GetValue<string>() ?? "").Contains('D')) continue;      // demuxer marks pre-roll packets as discard
            var ts = p?["pts_time"]?.GetValue<string>();
            if (ts is not null && double.TryParse(ts, NumberStyles.Float, Inv, out var t)) times.Add(t);
            else { allTimed = false; times.Add(double.NaN); }
        }
        if (times.Count == 0) throw new VideoReadException(path, "video stream has no frames");
        times.Sort();
        return new VideoInfo(path, width, height, fps, times.Count, allTimed ? times : null);
    }

    /// <summary>Decodes frames start, start+stride, … (count of them, display order), resizes each directly to
    /// width×height with Lanczos (a = 4, as OpenCV's INTER_LANCZOS4 in the reference, spec §4.3; no aspect preservation)
    /// and returns them as RGB bytes. Returns fewer frames if the stream ends early; throws
    /// <see cref="VideoReadException"/> if ffmpeg fails before delivering them all.</summary>
    /// <param name="seek">Seek to the first frame's timestamp instead of decoding from the start (same frames, faster
    /// for late clips); only used when the probe found strictly increasing timestamps.</param>
    public static VideoFrames ReadFrames(VideoInfo info, int start, int stride, int count, int width, int height,
        bool seek = true, TimeSpan? timeout = null)
    {
        if (start < 0 || stride < 1 || count < 1 || width < 1 || height < 1)
            throw new ArgumentException($"bad clip request for {info.Path}: start {start}, stride {stride}, count {count}, size {width}x{height}");
        var args = new List<string> { "-hide_banner", "-loglevel", "error", "-nostdin" };
        int skip = start;                                     // frames to drop after the (possibly seeked) start
        if (seek && start > 0 && SeekTime(info, start) is double ss)
        {
            // Input seeking is frame accurate when re-encoding: frames before ss are decoded and dropped, so the
            // filter's first frame is frame `start`. ss is absolute (-seek_timestamp), halfway from the previous frame.
            args.AddRange(new[] { "-seek_timestamp", "1", "-ss", ss.ToString("0.######", Inv) });
            skip = 0;
        }
        string filter = $"select='gte(n\\,{skip})*not(mod(n-{skip}\\,{stride}))'," +
                        "scale=iw:ih:flags=bicubic+accurate_rnd+full_chroma_int,format=rgb24," +   // to RGB at native size, like decord
                        $"scale={width}:{height}:flags=lanczos+accurate_rnd:param0=4,format=rgb24";
        args.AddRange(new[] { "-i", FileUrl(info.Path), "-map", "0:v:0", "-an", "-sn", "-dn", "-vf", filter,
            "-vsync", "passthrough", "-frames:v", count.ToString(Inv), "-f", "rawvideo", "-pix_fmt", "rgb24", "-" });
        var (rc, stdout, stderr) = Run("ffmpeg", args, info.Path, timeout ?? DefaultTimeout);
        int frameBytes = width * height * 3;
        int got = Math.Min(count, stdout.Length / frameBytes);
        if (rc != 0 && got < count)
            throw new VideoReadException(info.Path, $"ffmpeg failed after {got} of {count} frames: {FirstLines(stderr)}");
        var rgb = got * frameBytes == stdout.Length ? stdout : stdout.AsSpan(0, got * frameBytes).ToArray();
        return new VideoFrames(rgb, got, height, width);
    }

    /// <summary>All frames of a video, at its own size unless width/height are given.</summary>
    public static VideoFrames ReadAll(string path, int? width = null, int? height = null)
    {
        var info = Probe(path);
        return ReadFrames(info, 0, 1, info.FrameCount, width ?? info.Width, height ?? info.Height);
    }

    /// <summary>An explicit file: URL, so a name with a colon or a leading dash is never read as a protocol or option.</summary>
    private static string FileUrl(string path) => "file:" + Path.GetFullPath(path);

    private static double? SeekTime(VideoInfo info, int start)
    {
        var t = info.FrameTimes;
        if (t is null || start >= t.Count) return null;
        for (int i = 1; i < t.Count; i++)
            if (!(t[i] > t[i - 1])) return null;               // duplicate timestamps: index↔time is ambiguous, decode from 0
        return (t[start - 1] + t[start]) / 2;
    }

    private static double Rate(JsonNode? node)
    {
        var s = node?.GetValue<string>();
        if (s is null) return 0;
        var parts = s.Split('/');
        if (!double.TryParse(parts[0], NumberStyles.Float, Inv, out var num)) return 0;
        if (parts.Length == 1) return num;
        return double.TryParse(parts[1], NumberStyles.Float, Inv, out var den) && den != 0 ? num / den : 0;
    }

    private static string FirstLines(string s)
    {
        var lines = s.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return lines.Length == 0 ? "(no message)" : string.Join(" | ", lines.Take(3));
    }

    /// <summary>Runs a tool, collecting stdout as bytes and stderr as text; kills it when the timeout passes
    /// (a corrupt file must not hang the data loader).</summary>
    private static (int ExitCode, byte[] Stdout, string Stderr) Run(string tool, IEnumerable<string> args, string path, TimeSpan timeout)
    {
        var psi = new ProcessStartInfo(tool)
        {
            RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = false, UseShellExecute = false,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        Process proc;
        try { proc = Process.Start(psi)!; }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException($"{tool} is needed to read videos but could not be started ({e.Message}); install ffmpeg (Debian: apt-get install ffmpeg)", e);
        }
        using (proc)
        {
            bool timedOut = false;
            using var timer = new Timer(_ =>
            {
                timedOut = true;
                try { proc.Kill(entireProcessTree: true); } catch (InvalidOperationException) { /* already exited */ }
            }, null, timeout, Timeout.InfiniteTimeSpan);
            var stderr = proc.StandardError.ReadToEndAsync();
            using var buffer = new MemoryStream();
            proc.StandardOutput.BaseStream.CopyTo(buffer);
            proc.WaitForExit();
            if (timedOut) throw new VideoReadException(path, $"{tool} did not finish within {timeout.TotalSeconds:0} s");
            return (proc.ExitCode, buffer.ToArray(), stderr.Result);
        }
    }
}
