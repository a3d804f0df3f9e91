using T2VTurbo.Pipelines;
using Xunit;

namespace T2VTurbo.Tests;

/// <summary>A model config's "generation_defaults": what a small model was trained for fills what the user leaves open.</summary>
public class GenerationDefaultsTests
{
    private static string Write(string json)
    {
        var path = Path.Combine(Path.GetTempPath(), $"cfg-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, json);
        return path;
    }

    [Fact]
    public void Defaults_fill_only_what_the_options_leave_open_and_the_teacher_keeps_its_own_steps()
    {
        var path = Write("""{ "generation_defaults": { "height": 32, "width": 48, "frames": 8, "fps": 8, "steps": 4, "guidance": 7.5 }, "model": {} }""");
        try
        {
            var d = GenerationDefaults.FromConfig(path)!;
            var turbo = d.ApplyTo(new GenerateOptions { Width = 64 }, framesGiven: false);
            Assert.Equal((32, 64, 8, 8, 4, 7.5), (turbo.Height!.Value, turbo.Width!.Value, turbo.Frames, turbo.Fps!.Value, turbo.Steps!.Value, turbo.Guidance!.Value));
            var given = d.ApplyTo(new GenerateOptions { Frames = 16 }, framesGiven: true);
            Assert.Equal(16, given.Frames);
            var teacher = d.ApplyTo(new GenerateOptions { Mode = GenerationMode.Teacher }, framesGiven: false);
            Assert.Equal((50, 12.0), (teacher.ResolvedSteps, teacher.ResolvedGuidance));
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void A_config_without_the_section_has_no_defaults()
    {
        var path = Write("""{ "model": { "params": {} } }""");
        try { Assert.Null(GenerationDefaults.FromConfig(path)); }
        finally { File.Delete(path); }
    }

    [Theory]
    [InlineData("""{ "generation_defaults": { "frames": 0 } }""", "generation_defaults.frames must be positive, got 0")]
    [InlineData("""{ "generation_defaults": { "height": "tall" } }""", "generation_defaults.height must be a number")]
    [InlineData("""{ "generation_defaults": [1, 2] }""", "\"generation_defaults\" must be an object")]
    public void Bad_defaults_are_refused_naming_the_file_and_key(string json, string expected)
    {
        var path = Write(json);
        try
        {
            var e = Assert.Throws<InvalidDataException>(() => GenerationDefaults.FromConfig(path));
            Assert.Contains(expected, e.Message);
            Assert.Contains(path, e.Message);
        }
        finally { File.Delete(path); }
    }
}
