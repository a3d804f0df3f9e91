namespace T2VTurbo.Video;

/// <summary>What ffprobe reports about a file's first video stream.</summary>
/// <param name="AvgFps">The stream's average frame rate (ffprobe avg_frame_rate, r_frame_rate when that is unset) —
/// the value decord's get_avg_fps() gives the reference (spec §4.3).</param>
/// <param name="FrameCount">Number of video packets the demuxer delivers (discarded ones excluded): the frame count
/// decord's len(reader) uses, obtained without decoding.</param>
/// <param name="FrameTimes">Presentation time in seconds of every frame in display order (packet pts sorted), or null
/// when the container gives no timestamps; used to seek straight to a clip's first frame.</param>
public sealed record VideoInfo(string Path, int Width, int Height, double AvgFps, int FrameCount, IReadOnlyList<double>? FrameTimes)
{
    public double DurationSeconds => AvgFps > 0 ? FrameCount / AvgFps : 0;
}

/// <summary>A video that ffprobe/ffmpeg cannot read: missing, corrupt, no video stream, or a decode error.
/// A per-file problem — data loaders skip the file and count it. (A missing ffmpeg is an
/// <see cref="InvalidOperationException"/> instead, since no file can be read then.)</summary>
public sealed class VideoReadException : IOException
{
    public string VideoPath { get; }
    public VideoReadException(string path, string message, Exception? inner = null) : base($"{path}: {message}", inner) => VideoPath = path;
}
