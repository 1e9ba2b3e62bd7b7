"""The PixelShuffle (sub-pixel convolution) study of notebook 03: channel order, equivalence
with a transposed convolution, the report's demo, and checkerboards with and without ICNR.

Sub-pixel convolution (Shi et al. 2016) = convolution at low resolution to C*r^2 channels,
then ``nn.PixelShuffle(r)``: out[c, h*r + i, w*r + j] = in[c*r^2 + i*r + j, h, w].
The layers themselves (``SubPixelUpsample``, ICNR) live in ``nbhelpers.models.pixelshuffle``.
"""
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from torch import nn

from nbhelpers.models import pixelshuffle as ps

# ----------------------------------------------------------------------------- channel order

def channel_order_table(channels: int = 2, upscale: int = 2) -> pd.DataFrame:
    """Where each input channel lands after ``PixelShuffle(upscale)``, read off the real op:
    a [1, C*r^2, 1, 1] tensor whose channel k holds the value k is shuffled, and each output
    position (c, i, j) reports the k it received, next to the formula c*r^2 + i*r + j."""
    group = upscale * upscale
    codes = torch.arange(channels * group, dtype=torch.float32).view(1, -1, 1, 1)
    shuffled = nn.PixelShuffle(upscale)(codes)[0]          # [C, r, r]
    rows = [{"output channel c": c, "sub-pixel row i": i, "sub-pixel column j": j,
             "input channel (observed)": int(shuffled[c, i, j]),
             "c*r^2 + i*r + j": c * group + i * upscale + j}
            for c in range(channels) for i in range(upscale) for j in range(upscale)]
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- transposed conv

def transposed_as_subpixel(tconv: nn.ConvTranspose2d) -> nn.Sequential:
    """The sub-pixel convolution (3x3 conv, padding 1, then PixelShuffle(r)) that computes
    exactly what ``tconv`` (stride r, kernel K, padding p with K - 2p = r) computes.

    A transposed convolution writes input pixel x to outputs n = r*x + t - p (tap t of the
    kernel). Output n = r*h + i therefore reads input x = h + d through tap
    t = i + p - r*d: for each phase i a plain convolution over the low-resolution offsets d,
    whose kernel is every r-th tap of the big kernel. Those r^2 small kernels, stacked in
    PixelShuffle's channel order, are the sub-pixel convolution's weights.
    """
    r, K, p = tconv.stride[0], tconv.kernel_size[0], tconv.padding[0]
    if tconv.stride[0] != tconv.stride[1] or tconv.kernel_size[0] != tconv.kernel_size[1] \
            or tconv.padding[0] != tconv.padding[1] or K - 2 * p != r or tconv.groups != 1 \
            or tconv.output_padding != (0, 0) or tconv.dilation != (1, 1):
        raise ValueError("expected a square transposed conv with kernel K, stride r, padding p, K - 2p = r")
    c_in, c_out = tconv.weight.shape[:2]            # ConvTranspose2d weight: [C_in, C_out, K, K]
    offsets = (-1, 0, 1)                            # the 3x3 low-resolution neighbourhood
    for i in range(r):                              # every tap must be reachable from it
        reachable = {i + p - r * d for d in offsets} & set(range(K))
        needed = {t for t in range(K) if (t - i - p) % r == 0}
        if reachable != needed:
            raise ValueError(f"kernel {K} with stride {r} needs more than a 3x3 neighbourhood")
    conv = nn.Conv2d(c_in, c_out * r * r, 3, padding=1, bias=tconv.bias is not None)
    weight = torch.zeros_like(conv.weight)          # [C_out*r^2, C_in, 3, 3]
    with torch.no_grad():
        for c in range(c_out):
            for i in range(r):
                for j in range(r):
                    for a, dy in enumerate(offsets):
                        for b, dx in enumerate(offsets):
                            ty, tx = i + p - r * dy, j + p - r * dx
                            if 0 <= ty < K and 0 <= tx < K:
                                weight[c * r * r + i * r + j, :, a, b] = tconv.weight[:, c, ty, tx]
        conv.weight.copy_(weight)
        if tconv.bias is not None:
            conv.bias.copy_(tconv.bias.repeat_interleave(r * r))
    return nn.Sequential(conv, nn.PixelShuffle(r))


def transposed_equivalence(kernels=(4, 6), channels: tuple[int, int] = (3, 2), size: int = 7,
                           seed: int = 0) -> pd.DataFrame:
    """For random stride-2 transposed convs (DCGAN's kernel 4 / padding 1, and kernel 6 /
    padding 2), the largest difference from their sub-pixel rewrite on a random input, and
    the number of weights each form has (the sub-pixel form has zeros where K < 3r)."""
    rows = []
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(seed)
        for K in kernels:
            tconv = nn.ConvTranspose2d(channels[0], channels[1], K, stride=2, padding=(K - 2) // 2)
            sub = transposed_as_subpixel(tconv)
            x = torch.randn(2, channels[0], size, size)
            a, b = tconv(x), sub(x)
            conv_weight = sub[0].weight
            rows.append({"transposed conv": f"ConvTranspose2d(k={K}, stride=2, padding={(K - 2) // 2})",
                         "output shape": tuple(a.shape), "sub-pixel output shape": tuple(b.shape),
                         "max |difference|": float((a - b).abs().max()),
                         "transposed weights": tconv.weight.numel(),
                         "sub-pixel weights (non-zero)": int((conv_weight != 0).sum()),
                         "sub-pixel weights (total)": conv_weight.numel()})
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- the report's demo

def plot_report_demo(demo: dict):
    """input [1,1,16,16] | the conv's 4 channels [1,4,16,16] | PixelShuffle(2) [1,1,32,32]."""
    fig, axes = plt.subplots(1, 6, figsize=(17, 3.2), gridspec_kw={"width_ratios": [1, 1, 1, 1, 1, 2]})
    panels = [("input", demo["input"][0, 0])] + \
             [(f"conv channel {k}", demo["conv"][0, k]) for k in range(demo["conv"].shape[1])] + \
             [("PixelShuffle(2)", demo["pixel_shuffle"][0, 0])]
    for ax, (title, image) in zip(axes, panels):
        ax.imshow(image.numpy(), cmap="gray", interpolation="nearest")
        ax.set_title(f"{title}\n{list(image.shape)}", fontsize=10)
        ax.set_axis_off()
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------- ICNR

INITS = {"random (Kaiming)": None, "naive repeat": ps.naive_repeat_, "ICNR": ps.icnr_}


def _block(in_channels: int, out_channels: int, init, seed: int) -> ps.SubPixelUpsample:
    torch.manual_seed(seed)
    block = ps.SubPixelUpsample(in_channels, out_channels, upscale=2, icnr=False, bias=False)
    nn.init.kaiming_normal_(block.conv.weight)
    if init is not None:
        init(block.conv.weight, 2)
    return block


def icnr_comparison(out_channels=(1, 3), seeds: int = 20, size: int = 16) -> tuple[pd.DataFrame, dict]:
    """Checkerboard strength (``pixelshuffle.checkerboard_strength``: 0 = every 2x2 block
    flat, as nearest-neighbour upsampling) of a randomly initialised 1 -> C sub-pixel
    upsampling of a smooth image, over ``seeds`` initialisations per method. Returns the table
    and, for the last C and seed 0, output channel 0 of each method (for display)."""
    image = ps.smooth_image(size, seed=0)
    rows, examples = [], {"input (smooth, 16x16)": image}
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        for channels in out_channels:
            for name, init in INITS.items():
                strengths = []
                for seed in range(seeds):
                    out = _block(1, channels, init, seed)(image)
                    strengths.append(ps.checkerboard_strength(out))
                    if seed == 0 and channels == out_channels[-1]:
                        examples[f"{name}, C={channels}: channel 0"] = out[:, :1]
                rows.append({"output channels C": channels, "initialisation": name,
                             "checkerboard strength (mean)": float(np.mean(strengths)),
                             "max": float(np.max(strengths)), "initialisations": seeds})
    return pd.DataFrame(rows), examples


def plot_icnr_examples(examples: dict):
    fig, axes = plt.subplots(1, len(examples), figsize=(3.6 * len(examples), 3.6))
    for ax, (title, image) in zip(axes, examples.items()):
        ax.imshow(image[0, 0].numpy(), cmap="gray", interpolation="nearest")
        ax.set_title(title, fontsize=10)
        ax.set_axis_off()
    fig.tight_layout()
    return fig
