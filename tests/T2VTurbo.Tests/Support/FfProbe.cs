using System.Diagnostics;
using System.Text.Json.Nodes;

namespace T2VTurbo.Tests.Support;

/// <summary>Reads a video's first stream as ffprobe reports it (frames counted by decoding).</summary>
public sealed record ProbeResult(int Frames, int Width, int Height, double Fps, string Codec, string Comment)
{
    public static ProbeResult Of(string path)
    {
        var psi = new ProcessStartInfo("ffprobe") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
                     "stream=nb_read_frames,width,height,r_frame_rate,codec_name:format_tags=comment", "-of", "json", path })
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        string json = p.StandardOutput.ReadToEnd();
        string err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"ffprobe failed on {path}: {err}");
        var root = JsonNode.Parse(json)!;
        var s = root["streams"]![0]!;
        var rate = s["r_frame_rate"]!.GetValue<string>().Split('/');
        return new ProbeResult(int.Parse(s["nb_read_frames"]!.GetValue<string>()), s["width"]!.GetValue<int>(), s["height"]!.GetValue<int>(),
            double.Parse(rate[0]) / double.Parse(rate[1]), s["codec_name"]!.GetValue<string>(),
            root["format"]?["tags"]?["comment"]?.GetValue<string>() ?? "");
    }
}
