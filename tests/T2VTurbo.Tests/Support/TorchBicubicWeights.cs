using TorchSharp;
using static TorchSharp.torch;

namespace T2VTurbo.Tests.Support;

/// <summary>An independent float64 restatement of PyTorch's CPU bicubic resize (align_corners=False) as one weight
/// matrix per axis, for checking resizes that no fixture stores (e.g. the CLIP reward's squash). antialias=True:
/// <c>_compute_weights_aa</c> of aten/src/ATen/native/cpu/UpSampleKernel.cpp (Keys cubic a = −0.5, support 2·scale
/// when downscaling, weights normalised per output pixel); antialias=False: <c>upsample_bicubic2d</c> (a = −0.75,
/// 4 taps at clamped indices, unclamped source coordinate).</summary>
public static class TorchBicubicWeights
{
    /// <summary>[outSize, inSize]: resizing one axis is <c>M · x</c>.</summary>
    public static double[,] Matrix(int inSize, int outSize, bool antialias)
    {
        double scale = (double)inSize / outSize;
        var m = new double[outSize, inSize];
        for (int i = 0; i < outSize; i++)
        {
            if (antialias)
            {
                double support = 2.0 * Math.Max(scale, 1.0);
                double invscale = scale >= 1.0 ? 1.0 / scale : 1.0;
                double center = scale * (i + 0.5);
                int xmin = Math.Max((int)(center - support + 0.5), 0);
                int xmax = Math.Min((int)(center + support + 0.5), inSize);
                var w = new double[Math.Max(xmax - xmin, 0)];
                double total = 0;
                for (int j = 0; j < w.Length; j++) total += w[j] = Cubic((j + xmin - center + 0.5) * invscale, -0.5);
                for (int j = 0; j < w.Length; j++) m[i, xmin + j] = total != 0 ? w[j] / total : 0;
            }
            else
            {
                double src = scale * (i + 0.5) - 0.5;
                int x0 = (int)Math.Floor(src);
                double t = src - x0;
                double[] w = [Cubic(t + 1, -0.75), Cubic(t, -0.75), Cubic(1 - t, -0.75), Cubic(2 - t, -0.75)];
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

    private static double Cubic(double x, double a)
    {
        x = Math.Abs(x);
        if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
        if (x < 2) return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
        return 0;
    }
}
