using System.Text.Json.Nodes;
using T2VTurbo.Tests.Support;
using Xunit;

namespace T2VTurbo.Tests;

/// <summary>`bench` runs end to end and writes its numbers (the timings themselves are measured, never asserted).</summary>
public class BenchCommandTests
{
    private static string Config(string name) => Path.Combine(AppContext.BaseDirectory, "ShapesBench", name);

    [Fact]
    public void Bench_distill_times_distillation_steps_with_both_rewards_and_writes_json()
    {
        var json = Path.Combine(Path.GetTempPath(), $"bench-distill-{Guid.NewGuid():N}.json");
        try
        {
            CliRun.Expect(0, "bench", "--distill", "--config", Config("teacher.json"), "--image-reward-config", Config("clip.json"),
                "--video-reward-config", Config("viclip.json"), "--frames", "8", "--height", "32", "--width", "32", "--repeats", "2", "--json", json);
            var r = JsonNode.Parse(File.ReadAllText(json))!;
            var steps = r["step_seconds"]!.AsArray().Select(x => x!.GetValue<double>()).ToArray();
            Assert.Equal(2, steps.Length);
            Assert.All(steps, s => Assert.True(s > 0, $"step time {s}"));
            Assert.Equal(steps.OrderBy(s => s).ElementAt(1), r["median_step_s"]!.GetValue<double>());
        }
        finally { File.Delete(json); }
    }

    [Fact]
    public void Bench_distill_refuses_the_embedded_model()
    {
        var (code, err) = CliRun.Capturing("bench", "--distill", "--embedded");
        Assert.NotEqual(0, code);
        Assert.Contains("--distill times random full-size weights", err);
    }
}
