using TorchSharp;
using static TorchSharp.torch;

namespace T2VTurbo.Tests.Support;

/// <summary>An independent restatement of PyTorch's CPU bicubic resize (align_corners=False) as one weight matrix per
/// axis (applied in float64), for checking resizes that no fixture stores (e.g. the CLIP reward's squash). antialias=True:
/// <c>_compute_weights_aa</c> of aten/src/ATen/native/cpu/UpSampleKernel.cpp (Keys cubic a = −0.5, support 2·scale
/// when downscaling, weights normalised per output pixel); antialias=False: <c>upsample_bicubic2d</c> (a = −0.75,
/// 4 taps at clamped indices, unclamped source coordinate).</summary>
public static class TorchBicubicWeights
{
    /// <summary>[outSize, inSize]: resizing one axis is <c>M · x</c>. Coordinates and weights are computed in float32 as
    /// PyTorch does for float tensors (scale = (float)in / out); at non-integer scales such as 512 → 224 a float64
    /// coordinate would move the non-antialiased weights by ~1e-4.</summary>
    public static double[,] Matrix(int inSize, int outSize, bool antialias)
    {
        float scale = (float)inSize / outSize;
        var m = new double[outSize, inSize];
        for (int i = 0; i < outSize; i++)
        {
            if (antialias)
            {
                // _compute_weights_aa: center = scale * (i + 0.5) (double product stored as float), filter argument
                // (j + xmin − center + 0.5) · invscale (double, passed as float).
                float support = scale >= 1f ? 2f * scale : 2f;
                float invscale = scale >= 1f ? 1f / scale : 1f;
                float center = (float)(scale * (i + 0.5));
                int xmin = Math.Max((int)(center - support + 0.5), 0);
                int xmax = Math.Min((int)(center + support + 0.5), inSize);
                var w = new float[Math.Max(xmax - xmin, 0)];
                float total = 0;
                for (int j = 0; j < w.Length; j++) total += w[j] = Cubic((float)((j + xmin - center + 0.5) * invscale), -0.5f);
                for (int j = 0; j < w.Length; j++) m[i, xmin + j] = total != 0 ? w[j] / total : 0;
            }
            else
            {
                // compute_indices_weights_cubic: src = scale · (i + 0.5) − 0.5 (unclamped), lambda = src − floor(src).
                // libtorch's build contracts the source coordinate into one fused multiply-add: with two roundings,
                // 320 → 224 differs from it by 1.2e-5 (one float ulp of the coordinate near 300), fused by 1e-6.
                float src = MathF.FusedMultiplyAdd(scale, i + 0.5f, -0.5f);
                int x0 = (int)MathF.Floor(src);
                float t = Math.Clamp(src - x0, 0f, 1f);
                float[] w = [Cubic(t + 1, -0.75f), Cubic(t, -0.75f), Cubic(1 - t, -0.75f), Cubic(2 - t, -0.75f)];
                for (int k = 0; k < 4; k++) m[i, Math.Clamp(x0 - 1 + k, 0, inSize - 1)] += w[k];
            }
        }
        return m;
    }

    /// <summary>images [N, C, H, W] → [N, C, outH, outW] in float64: M_h · x · M_wᵀ.</summary>
    public static Tensor Resize(Tensor images, int outH, int outW, bool antialias)
    {
        using var scope = torch.NewDisposeScope();
        var x = images.to(ScalarType.Float64);
        var mh = torch.tensor(Matrix((int)x.shape[2], outH, antialias));   // [outH, H]
        var mw = torch.tensor(Matrix((int)x.shape[3], outW, antialias));   // [outW, W]
        return mh.matmul(x).matmul(mw.t()).MoveToOuterDisposeScope();
    }

    private static float Cubic(float x, float a)
    {
        x = Math.Abs(x);
        if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
        if (x < 2) return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
        return 0;
    }
}
