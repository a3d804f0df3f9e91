namespace T2VTurbo.IO;

/// <summary>Opens any supported weight file as an <see cref="ICheckpointSource"/>, by content (not by extension).</summary>
public static class Checkpoint
{
    public static ICheckpointSource Open(string path)
    {
        if (Directory.Exists(path)) throw new ArgumentException($"{path} is a folder, expected a weight file (.safetensors, .ckpt, .pt)");
        if (!File.Exists(path)) throw new FileNotFoundException($"weight file not found: {path}", path);
        Span<byte> head = stackalloc byte[4];
        using (var fs = File.OpenRead(path))
        {
            int n = fs.Read(head);
            if (n == 4 && head[0] == (byte)'P' && head[1] == (byte)'K')
                return TorchCheckpoint.OpenStateDict(path);
        }
        return new SafeTensorsFile(path);
    }
}
