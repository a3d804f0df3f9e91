using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace T2VTurbo.Training;

/// <summary>The symmetric InfoNCE loss of CLIP training (open_clip <c>ClipLoss</c>, ViCLIP <c>vtc_loss</c>):
/// logits = scale · a·bᵀ over unit features, loss = ½ (CE(logits, targets) + CE(logitsᵀ, targets)).
/// The targets are ViCLIP's <c>get_mask(idx, normalize=True)</c> with the caption as the index: pair (i, j) is a positive
/// when captions i and j are equal, each row normalised to sum 1. With distinct captions this is the identity, i.e.
/// open_clip's <c>labels = arange(N)</c>; with repeated captions (a small synthetic set repeats them) an equal caption is
/// not pushed away as a negative.</summary>
public static class ContrastiveLoss
{
    /// <param name="a">unit features of one side [N, E] (images / videos).</param>
    /// <param name="b">unit features of the other side [N, E] (captions).</param>
    /// <param name="scale">the logit multiplier, a scalar tensor (open_clip logit_scale.exp(), ViCLIP 1 / temp).</param>
    /// <returns>the loss and the share of rows of a whose highest logit is a positive (retrieval accuracy).</returns>
    public static (Tensor Loss, double Accuracy) SymmetricInfoNce(Tensor a, Tensor b, Tensor scale, IReadOnlyList<string> captions)
    {
        if (a.dim() != 2 || b.dim() != 2 || a.shape[0] != b.shape[0] || a.shape[1] != b.shape[1])
            throw new ArgumentException($"contrastive loss: features must both be [N, E], got [{string.Join(", ", a.shape)}] and [{string.Join(", ", b.shape)}]");
        if (captions.Count != a.shape[0])
            throw new ArgumentException($"contrastive loss: {captions.Count} captions for {a.shape[0]} feature rows");
        if (a.shape[0] < 2)
            throw new ArgumentException("contrastive loss: a batch of at least 2 pairs is needed (one pair has no negatives)");
        using var scope = torch.NewDisposeScope();
        int n = captions.Count;
        var same = new float[n * n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                same[i * n + j] = captions[i] == captions[j] ? 1f : 0f;
        var targets = torch.tensor(same, new long[] { n, n }, device: a.device);
        targets = targets / targets.sum(1, keepdim: true);                              // [N, N], rows sum to 1 (symmetric)
        var logits = scale * a.matmul(b.t());                                           // [N, N]
        var aToB = -(F.log_softmax(logits, 1) * targets).sum(1).mean();
        var bToA = -(F.log_softmax(logits.t(), 1) * targets).sum(1).mean();
        var loss = (aToB + bToA) / 2;
        using var _ = torch.no_grad();
        var best = logits.argmax(1);                                                    // [N]
        double accuracy = targets.gather(1, best.unsqueeze(1)).gt(0).to(ScalarType.Float32).mean().item<float>();
        return (loss.MoveToOuterDisposeScope(), accuracy);
    }
}
