using System.Diagnostics;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Gif;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.PixelFormats;

namespace T2VTurbo.Video;

/// <summary>Output formats of a generated video.</summary>
public enum VideoFormat { Mp4, Gif, Webp, PngFrames }

/// <summary>Writes videos: MP4 (H.264) and animated WebP through ffmpeg, animated GIF and PNG frames through
/// ImageSharp. Files are written to a temporary name and renamed when complete.</summary>
public static class VideoWriter
{
    /// <summary>The format implied by a path: .mp4, .gif, .webp, or a folder (no extension) of PNG frames.</summary>
    /// <summary>Whether an ffmpeg executable is on PATH: MP4 and WebP need it, GIF and PNG frames do not.</summary>
    public static bool FfmpegOnPath => ffmpegOnPath.Value;
    private static readonly Lazy<bool> ffmpegOnPath = new(() => (Environment.GetEnvironmentVariable("PATH") ?? "")
        .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries).Any(d => File.Exists(Path.Combine(d, "ffmpeg"))));

    public static VideoFormat FormatOf(string path) => Path.GetExtension(path).ToLowerInvariant() switch
    {
        ".mp4" => VideoFormat.Mp4,
        ".gif" => VideoFormat.Gif,
        ".webp" => VideoFormat.Webp,
        "" => VideoFormat.PngFrames,
        var e => throw new ArgumentException($"unsupported output extension '{e}' in {path}: use .mp4, .gif, .webp or a folder name for PNG frames"),
    };

    public static void Write(string path, VideoFrames video, double fps, VideoMetadata? meta = null, int crf = 10)
    {
        if (fps <= 0) throw new ArgumentException($"fps must be positive, got {fps}");
        switch (FormatOf(path))
        {
            case VideoFormat.Mp4: WriteWithFfmpeg(path, video, fps, meta, $"-c:v libx264 -crf {crf} -pix_fmt yuv420p -movflags +faststart", "mp4"); break;
            case VideoFormat.Webp: WriteWithFfmpeg(path, video, fps, meta, "-c:v libwebp_anim -lossless 0 -quality 90 -loop 0", "webp"); break;
            case VideoFormat.Gif: WriteGif(path, video, fps, meta); break;
            default: WritePngFrames(path, video, meta); break;
        }
    }

    private static Image<Rgb24> FrameImage(VideoFrames v, int t) => Image.LoadPixelData<Rgb24>(v.Frame(t), v.Width, v.Height);

    private static void WriteGif(string path, VideoFrames v, double fps, VideoMetadata? meta)
    {
        using var gif = new Image<Rgb24>(v.Width, v.Height);
        var gm = gif.Metadata.GetGifMetadata();
        gm.RepeatCount = 0;                                            // loop forever
        if (meta != null) gm.Comments.Add(meta.Comment);
        int delay = Math.Max(1, (int)Math.Round(100 / fps));          // GIF delays are in 1/100 s
        for (int t = 0; t < v.Frames; t++)
        {
            using var frame = FrameImage(v, t);
            frame.Frames.RootFrame.Metadata.GetGifMetadata().FrameDelay = delay;
            gif.Frames.AddFrame(frame.Frames.RootFrame);
        }
        gif.Frames.RemoveFrame(0);                                     // the blank frame the image was created with
        IO.AtomicFile.Write(path, fs => gif.SaveAsGif(fs, new GifEncoder { ColorTableMode = GifColorTableMode.Local }));
    }

    private static void WritePngFrames(string dir, VideoFrames v, VideoMetadata? meta)
    {
        Directory.CreateDirectory(dir);
        for (int t = 0; t < v.Frames; t++)
        {
            using var img = FrameImage(v, t);
            if (meta != null)
                img.Metadata.GetPngMetadata().TextData.Add(new PngTextData("Comment", meta.Comment, "", ""));
            IO.AtomicFile.Write(Path.Combine(dir, $"frame_{t:D4}.png"), fs => img.SaveAsPng(fs));
        }
    }

    private static void WriteWithFfmpeg(string path, VideoFrames v, double fps, VideoMetadata? meta, string codecArgs, string muxer)
    {
        string full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        string tmp = Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        var psi = new ProcessStartInfo("ffmpeg")
        {
            RedirectStandardInput = true, RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false,
        };
        foreach (var a in $"-hide_banner -loglevel error -y -f rawvideo -pix_fmt rgb24 -s {v.Width}x{v.Height} -r {fps.ToString(System.Globalization.CultureInfo.InvariantCulture)} -i -".Split(' '))
            psi.ArgumentList.Add(a);
        foreach (var a in codecArgs.Split(' ')) psi.ArgumentList.Add(a);
        if (meta != null)
        {
            psi.ArgumentList.Add("-metadata"); psi.ArgumentList.Add($"comment={meta.Comment}");
            psi.ArgumentList.Add("-metadata"); psi.ArgumentList.Add($"title={meta.Prompt}");
        }
        psi.ArgumentList.Add("-f"); psi.ArgumentList.Add(muxer);
        psi.ArgumentList.Add(tmp);
        Process proc;
        try { proc = Process.Start(psi)!; }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException($"ffmpeg is needed to write {Path.GetExtension(path)} files but could not be started ({e.Message}); install it (Debian: apt-get install ffmpeg) or write .gif", e);
        }
        using (proc)
        {
            var stderr = proc.StandardError.ReadToEndAsync();
            try
            {
                using (var stdin = proc.StandardInput.BaseStream)
                    stdin.Write(v.Rgb);
            }
            catch (IOException) { /* ffmpeg exited early; its stderr says why */ }
            proc.WaitForExit();
            if (proc.ExitCode != 0 || !File.Exists(tmp))
            {
                if (File.Exists(tmp)) File.Delete(tmp);
                throw new InvalidOperationException($"ffmpeg failed writing {path}: {stderr.Result.Trim()}");
            }
        }
        File.Move(tmp, full, overwrite: true);
    }
}
