using T2VTurbo.Tests.Support;
using T2VTurbo.Video;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace T2VTurbo.Tests;

public class VideoWriterTests
{
    [Fact]
    public void Uint8_conversion_truncates_like_the_reference()
    {
        // (x+1)/2*255 for x = 0.999 is 254.87 -> 254 (truncation), -2 clamps to 0, 2 clamps to 255.
        using var v = torch.tensor(new float[] { 0.999f, -2f, 2f }).reshape(1, 3, 1, 1).expand(3, 3, 1, 1).contiguous();
        var f = VideoFrames.FromTensor(v.permute(0, 1, 2, 3));
        Assert.Equal(new byte[] { 254, 254, 254 }, f.Frame(0).ToArray());
        Assert.Equal(new byte[] { 0, 0, 0 }, f.Frame(1).ToArray());
        Assert.Equal(new byte[] { 255, 255, 255 }, f.Frame(2).ToArray());
    }

    [Theory]
    [InlineData("mp4", "h264")]
    [InlineData("gif", "gif")]
    [InlineData("webp", "webp")]
    public void Writes_a_playable_file_with_frames_size_and_fps(string ext, string codec)
    {
        using var video = torch.rand(3, 5, 24, 40) * 2 - 1;   // [3, T, H, W]
        var frames = VideoFrames.FromTensor(video);
        var path = Path.Combine(Path.GetTempPath(), $"vw-{Guid.NewGuid():N}.{ext}");
        try
        {
            VideoWriter.Write(path, frames, fps: 8, new VideoMetadata("a red circle", 42, 4, 7.5, "test"));
            if (ext == "webp")
            {
                var w = WebpProbe.Of(path);
                Assert.Equal((5, 40, 24), (w.Frames, w.Width, w.Height));
                Assert.InRange(w.Fps, 7.9, 8.1);
                return;
            }
            var p = ProbeResult.Of(path);
            Assert.Equal((5, 40, 24, codec), (p.Frames, p.Width, p.Height, p.Codec));
            // GIF frame delays are whole 1/100 s: 8 fps is stored as 12 or 13 cs.
            Assert.InRange(p.Fps, ext == "gif" ? 7.6 : 7.999, ext == "gif" ? 8.4 : 8.001);
            if (ext == "mp4") Assert.Contains("seed=42", p.Comment);
        }
        finally { File.Delete(path); }
    }
}
