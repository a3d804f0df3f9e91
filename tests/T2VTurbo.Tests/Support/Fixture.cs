using System.Text.Json.Nodes;
using T2VTurbo.IO;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace T2VTurbo.Tests.Support;

/// <summary>A parity fixture folder: config.json, weights.safetensors (optional), io.safetensors, made by the reference
/// implementation. The root is $T2V_FIXTURES, else the nearest ancestor's shared/fixtures. A missing fixture fails.</summary>
public sealed class Fixture : IDisposable
{
    private SafeTensorsFile? weights, io;

    public string Name { get; }
    public string Dir { get; }
    public JsonObject Config { get; }
    public string Prefix => Config["prefix"]?.GetValue<string>() ?? "";

    private Fixture(string name, string dir)
    {
        Name = name;
        Dir = dir;
        Config = JsonNode.Parse(System.IO.File.ReadAllText(System.IO.Path.Combine(dir, "config.json")))!.AsObject();
    }

    public static string Root
    {
        get
        {
            var env = Environment.GetEnvironmentVariable("T2V_FIXTURES");
            if (!string.IsNullOrEmpty(env)) return env;
            for (var d = new DirectoryInfo(AppContext.BaseDirectory); d != null; d = d.Parent)
            {
                var candidate = System.IO.Path.Combine(d.FullName, "shared", "fixtures");
                if (Directory.Exists(candidate)) return candidate;
            }
            throw new DirectoryNotFoundException("no shared/fixtures folder above the test binaries and T2V_FIXTURES is not set");
        }
    }

    public static Fixture Load(string name)
    {
        var dir = System.IO.Path.Combine(Root, name);
        Assert.True(Directory.Exists(dir), $"fixture '{name}' is missing: {dir}");
        return new Fixture(name, dir);
    }

    public string File(string name) => System.IO.Path.Combine(Dir, name);
    public SafeTensorsFile Weights => weights ??= new SafeTensorsFile(File("weights.safetensors"));
    public SafeTensorsFile Io => io ??= new SafeTensorsFile(File("io.safetensors"));

    /// <summary>A named tensor of io.safetensors, as stored.</summary>
    public Tensor In(string name) => Io.Load(name);
    public bool Has(string name) => Io.Contains(name);

    public long[] IntList(string key) => Config[key]!.AsArray().Select(x => x!.GetValue<long>()).ToArray();

    /// <summary>Asserts max |actual − expected| ≤ tol and reports the measured error (written to the test output).</summary>
    public double AssertClose(Tensor actual, string expectedName, double tol) => AssertClose(actual, In(expectedName), $"{Name}/{expectedName}", tol);

    public static double AssertClose(Tensor actual, Tensor expected, string label, double tol)
    {
        Assert.True(actual.shape.SequenceEqual(expected.shape),
            $"{label}: shape [{string.Join(",", actual.shape)}] != expected [{string.Join(",", expected.shape)}]");
        using var scope = torch.NewDisposeScope();
        var diff = (actual.detach().cpu().to(ScalarType.Float64) - expected.cpu().to(ScalarType.Float64)).abs();
        double err = diff.numel() == 0 ? 0 : diff.max().item<double>();
        bool finite = diff.numel() == 0 || diff.isfinite().all().item<bool>();
        string where = "";
        if (diff.numel() > 0)
        {
            var idx = diff.flatten().argmax().item<long>();
            var coords = new long[diff.dim()];
            for (int d = (int)diff.dim() - 1; d >= 0; d--) { coords[d] = idx % diff.shape[d]; idx /= diff.shape[d]; }
            where = $" at [{string.Join(",", coords)}]";
        }
        MeasuredErrors.Record(label, err);
        Assert.True(finite && err <= tol, $"{label}: max abs err {err:E2} > {tol:E0}{where}");
        return err;
    }

    public void Dispose()
    {
        weights?.Dispose();
        io?.Dispose();
    }
}

/// <summary>Collects the measured errors so the run prints one table (see also each test's output).</summary>
public static class MeasuredErrors
{
    private static readonly object Gate = new();
    public static void Record(string label, double err)
    {
        lock (Gate)
        {
            var path = Environment.GetEnvironmentVariable("T2V_ERRORS_FILE");
            Console.WriteLine($"[parity] {label}: max abs err {err:E2}");
            if (!string.IsNullOrEmpty(path)) System.IO.File.AppendAllText(path, $"{label}\t{err:E3}\n");
        }
    }
}
