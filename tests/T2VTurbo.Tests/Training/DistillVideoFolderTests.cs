using System.Diagnostics;
using System.Text.Json.Nodes;
using T2VTurbo.Tests.Support;
using T2VTurbo.Training;
using Xunit;

namespace T2VTurbo.Tests.Training;

/// <summary>`t2v-turbo distill` reading a real folder of videos through ffmpeg: a corrupt video is skipped and counted
/// in the log, the run goes on.</summary>
[Collection(DistillCollection.Name)]
public class DistillVideoFolderTests
{
    private static void Ffmpeg(params string[] args)
    {
        var psi = new ProcessStartInfo("ffmpeg") { RedirectStandardError = true };
        foreach (var a in new[] { "-hide_banner", "-loglevel", "error", "-y" }.Concat(args)) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        string err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, err);
    }

    [Fact]
    public void Distill_on_a_video_folder_skips_and_counts_a_corrupt_video()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"distill-videos-{Guid.NewGuid():N}");
        var data = Path.Combine(dir, "data");
        var output = Path.Combine(dir, "run");
        Directory.CreateDirectory(data);
        try
        {
            Ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48:rate=25", "-t", "1", "-pix_fmt", "yuv420p", Path.Combine(data, "a.mp4"));
            Ffmpeg("-f", "lavfi", "-i", "color=c=red:size=64x48:rate=25", "-t", "1", "-pix_fmt", "yuv420p", Path.Combine(data, "b.mp4"));
            File.WriteAllText(Path.Combine(data, "a.txt"), "a test pattern");
            File.WriteAllText(Path.Combine(data, "b.txt"), "a red screen");
            File.WriteAllBytes(Path.Combine(data, "c.mp4"), Enumerable.Range(0, 4096).Select(i => (byte)(i * 7919 % 251)).ToArray());
            File.WriteAllText(Path.Combine(data, "c.txt"), "noise that is not a video");

            CliRun.Expect(0, new[]
            {
                "distill", "--teacher", TinyModel.WeightsPath, "--config", TinyModel.ConfigPath, "--data", data, "--output", output,
                "--max-train-steps", "3", "--n-frames", "4", "--height", TinyModel.Size().ToString(), "--width", TinyModel.Size().ToString(), "--lora-rank", "4",
                "--image-reward", "none", "--video-reward", "none", "--checkpointing-steps", "3", "--validation-steps", "0",
            });
            var log = File.ReadAllLines(Path.Combine(output, DistillRun.LogFile)).Select(l => JsonNode.Parse(l)!).ToList();
            Assert.Equal(3, log.Count);
            Assert.True(log[^1]["data_skipped_unreadable"]!.GetValue<long>() >= 1, log[^1].ToJsonString());
            Assert.All(log, l => Assert.True(double.IsFinite(l["loss_cd"]!.GetValue<double>()), l.ToJsonString()));
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }
}
