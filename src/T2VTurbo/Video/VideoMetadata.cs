namespace T2VTurbo.Video;

/// <summary>What made a video; written into the file where the format allows (MP4 tags, GIF comment, PNG text).</summary>
public sealed record VideoMetadata(string Prompt, long Seed, int Steps, double Guidance, string Model, string Mode = "")
{
    public string Comment => $"prompt={Prompt}; seed={Seed}; steps={Steps}; guidance={Guidance:0.###}; model={Model}" +
                             (Mode.Length > 0 ? $"; mode={Mode}" : "");
}
