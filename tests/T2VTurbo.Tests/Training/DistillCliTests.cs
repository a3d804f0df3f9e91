using T2VTurbo.Cli.Commands;
using T2VTurbo.Tests.Support;
using T2VTurbo.Training;
using T2VTurbo.Training.Data;
using Xunit;

namespace T2VTurbo.Tests.Training;

/// <summary>`t2v-turbo distill` end to end on <see cref="TinyModel"/> with an in-memory data source plugged into the
/// command's data seam.</summary>
[Collection(DistillCollection.Name)]
public class DistillCliTests
{
    [Fact]
    public void Cli_distill_runs_writes_a_checkpoint_and_resumes()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"distill-cli-{Guid.NewGuid():N}");
        var previous = DistillCommand.OpenData;
        var asked = new List<TrainingDataSpec>();
        DistillCommand.OpenData = (path, spec) =>
        {
            Assert.Equal("videos.csv", path);
            asked.Add(spec);
            return new SyntheticVideoBatches(2, spec.Frames, spec.Height, spec.Width, spec.BatchSize);
        };
        try
        {
            string[] Args(int steps, params string[] extra) =>
            [
                "distill", "--teacher", TinyModel.WeightsPath, "--config", TinyModel.ConfigPath, "--data", "videos.csv", "--output", dir,
                "--max-train-steps", steps.ToString(), "--n-frames", "4", "--height", TinyModel.Size().ToString(), "--width", TinyModel.Size().ToString(), "--lora-rank", "4",
                "--image-reward", "none", "--video-reward", "none", "--checkpointing-steps", "1", "--checkpoints-total-limit", "2",
                "--validation-steps", "0", "--learning-rate", "1e-3", .. extra,
            ];
            CliRun.Expect(0, Args(2));
            Assert.Equal([1L, 2L], TrainingCheckpoint.List(dir).Select(c => c.Step));
            Assert.Equal(new TrainingDataSpec(1, 4, TinyModel.Size(), TinyModel.Size(), 16, 453645634), asked[0]);
            CliRun.Expect(0, Args(3, "--resume"));
            Assert.Equal([2L, 3L], TrainingCheckpoint.List(dir).Select(c => c.Step));
            Assert.Equal(3, File.ReadAllLines(Path.Combine(dir, DistillRun.LogFile)).Length);

            // a reward that is not available fails with a message, not a crash
            CliRun.Expect(1, Args(4, "--resume", "--image-reward", "hpsv2"));
        }
        finally
        {
            DistillCommand.OpenData = previous;
            if (Directory.Exists(dir)) Directory.Delete(dir, true);
        }
    }
}
