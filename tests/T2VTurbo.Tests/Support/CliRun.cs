using Xunit;

namespace T2VTurbo.Tests.Support;

/// <summary>
/// Runs the CLI in-process, one invocation at a time. Spectre.Console's live displays (progress bars) are process-global
/// and refuse to run concurrently, so two test classes calling the CLI in parallel would fail each other's runs.
/// </summary>
internal static class CliRun
{
    private static readonly object Gate = new();

    /// <summary>Runs <c>t2v-turbo args…</c>; returns the exit code and what it wrote to stderr.</summary>
    public static (int Code, string Errors) Capturing(params string[] args)
    {
        lock (Gate)
        {
            var old = Console.Error;
            var sw = new StringWriter();
            Console.SetError(sw);
            try { return (Cli.Program.Main(args), sw.ToString()); }
            finally { Console.SetError(old); }
        }
    }

    /// <summary>Asserts the exit code, with stderr in the failure message.</summary>
    public static void Expect(int code, params string[] args)
    {
        var (rc, errors) = Capturing(args);
        Assert.True(rc == code, $"t2v-turbo {string.Join(' ', args)} exited {rc}, expected {code}; stderr: {errors}");
    }
}
