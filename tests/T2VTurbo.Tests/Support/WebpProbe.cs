using System.Text;

namespace T2VTurbo.Tests.Support;

/// <summary>ffprobe cannot decode animated WebP, so tests read its RIFF container: the VP8X chunk holds the canvas
/// size (24-bit width−1, height−1), each ANMF chunk one frame with its duration in ms (24-bit at offset 12).</summary>
public sealed record WebpProbe(int Frames, int Width, int Height, double Fps)
{
    public static WebpProbe Of(string path)
    {
        var b = File.ReadAllBytes(path);
        if (Encoding.ASCII.GetString(b, 0, 4) != "RIFF" || Encoding.ASCII.GetString(b, 8, 4) != "WEBP")
            throw new InvalidDataException($"{path} is not a WebP file");
        int frames = 0, width = 0, height = 0;
        var durations = new List<int>();
        for (int i = 12; i + 8 <= b.Length;)
        {
            string tag = Encoding.ASCII.GetString(b, i, 4);
            int size = BitConverter.ToInt32(b, i + 4);
            int p = i + 8;
            if (tag == "VP8X")
            {
                width = 1 + (b[p + 4] | b[p + 5] << 8 | b[p + 6] << 16);
                height = 1 + (b[p + 7] | b[p + 8] << 8 | b[p + 9] << 16);
            }
            else if (tag == "ANMF")
            {
                frames++;
                durations.Add(b[p + 12] | b[p + 13] << 8 | b[p + 14] << 16);
            }
            i = p + size + (size & 1);
        }
        double fps = durations.Count == 0 ? 0 : 1000.0 / durations.Average();
        return new WebpProbe(frames, width, height, fps);
    }
}
