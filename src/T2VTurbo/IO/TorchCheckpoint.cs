namespace T2VTurbo.IO;

/// <summary>PyTorch zip-pickle checkpoints (.ckpt/.pt). (Being written: restricted unpickler.)</summary>
public static class TorchCheckpoint
{
    public static ICheckpointSource OpenStateDict(string path) =>
        throw new NotSupportedException($"{path}: PyTorch checkpoint reading is not implemented yet");
    public static bool IsTensorList(string path) => false;
    public static IReadOnlyList<TorchSharp.torch.Tensor> ReadTensorList(string path) =>
        throw new NotSupportedException($"{path}: PyTorch checkpoint reading is not implemented yet");
}
