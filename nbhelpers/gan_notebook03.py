"""What notebook 03 (GAN with PixelShuffle upsampling) needs beyond ``pixelshuffle`` and
``gan_report``: the sub-pixel demonstrations (channel order, equivalence with a transposed
convolution, checkerboards with and without ICNR) and the per-digit mode-collapse table.

Sub-pixel convolution (Shi et al. 2016) = convolution at low resolution to C*r^2 channels,
then ``nn.PixelShuffle(r)``: out[c, h*r + i, w*r + j] = in[c*r^2 + i*r + j, h, w].
"""
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from torch import nn

from . import fid
from . import pixelshuffle as ps
from .plots import image_grid

UNIFORM_SHARE = 0.1


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


# ----------------------------------------------------------------------------- mode collapse

@torch.no_grad()
def classifier_confidence(evaluator, images: torch.Tensor, batch_size: int = 2000) -> tuple[torch.Tensor, torch.Tensor]:
    """(predicted digit, its softmax probability) for every image, from the Evaluator's MNIST
    classifier, with the same 1/255 rounding as ``Evaluator.predict``."""
    model, _ = evaluator.classifier()
    probabilities = fid.extract(lambda batch: model(batch.mul(255).round().div(255)).softmax(1),
                                images, evaluator.device, batch_size)
    confidence, labels = probabilities.cpu().max(1)
    return labels, confidence


def confidence_by_digit(labels: torch.Tensor, confidence: torch.Tensor, sure: float = 0.9) -> pd.DataFrame:
    """Per predicted digit: mean classifier confidence and the share of its samples above ``sure``."""
    frame = pd.DataFrame({"digit": labels.numpy(), "confidence": confidence.numpy()})
    grouped = frame.groupby("digit")["confidence"]
    table = pd.DataFrame({"mean confidence": grouped.mean(), f"share p >= {sure}": grouped.apply(lambda c: (c >= sure).mean())})
    return table.reindex(range(10))


def class_share_table(counts, real_counts, tolerance: float = 0.2, confidence: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per digit: generated count and share, its ratio to the uniform 10 %, the share the same
    classifier predicts on real MNIST test digits, and a verdict: "over" / "under" when the
    share is more than ``tolerance`` (relative) above / below 10 %, else "ok". ``z`` is the
    deviation from 10 % in binomial standard errors (how far beyond sampling noise it is).
    ``confidence`` (from ``confidence_by_digit``) adds its columns."""
    counts = np.asarray(counts, dtype=float)
    real = np.asarray(real_counts, dtype=float)
    n = counts.sum()
    share = counts / n
    stderr = np.sqrt(UNIFORM_SHARE * (1 - UNIFORM_SHARE) / n)
    ratio = share / UNIFORM_SHARE
    slack = 1e-9  # so that a share exactly at the tolerance counts as "ok" on both sides
    verdict = np.where(ratio > 1 + tolerance + slack, "over",
                       np.where(ratio < 1 - tolerance - slack, "under", "ok"))
    table = pd.DataFrame({"generated": counts.astype(int), "share": share, "share / 10%": ratio,
                          "z vs 10%": (share - UNIFORM_SHARE) / stderr,
                          "real test share": real / real.sum(), "verdict": verdict},
                         index=pd.Index(range(len(counts)), name="digit"))
    if confidence is not None:
        table = table.join(confidence.rename_axis("digit"))
    return table


def collapse_summary(table: pd.DataFrame) -> dict:
    """Over- and under-produced digits (most extreme first) and the headline numbers."""
    over = table[table["verdict"] == "over"].sort_values("share", ascending=False)
    under = table[table["verdict"] == "under"].sort_values("share")
    top = table["share"].idxmax()
    return {"over": [int(d) for d in over.index], "under": [int(d) for d in under.index],
            "most": int(top), "most_share": float(table["share"].max()),
            "least": int(table["share"].idxmin()), "least_share": float(table["share"].min()),
            "max_over_min": float(table["share"].max() / table["share"].min()) if table["share"].min() > 0
            else float("inf"),
            "total_variation_from_uniform": float(0.5 * (table["share"] - UNIFORM_SHARE).abs().sum())}


def dominant_digits(shares: pd.DataFrame) -> pd.DataFrame:
    """From ``gan_report.coverage_history``: per evaluated epoch the most and least produced
    digit, their shares, and the total-variation distance from the uniform spread."""
    return pd.DataFrame({"most produced": shares.idxmax(axis=1), "its share": shares.max(axis=1),
                         "least produced": shares.idxmin(axis=1), "least share": shares.min(axis=1),
                         "TV from uniform": 0.5 * (shares - UNIFORM_SHARE).abs().sum(axis=1)}).rename_axis("epoch")


def show_grid_rows(grids: dict, per_row: int = 4, size: float = 4.2):
    """Several titled 10x10 grids, ``per_row`` to a figure row (for the every-20-epoch grids)."""
    items = list(grids.items())
    rows = max(1, -(-len(items) // per_row))
    fig, axes = plt.subplots(rows, per_row, figsize=(size * per_row, size * rows), squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    for ax, (title, images) in zip(axes.flat, items):
        image_grid(ax, images, nrow=10, title=title)
    fig.tight_layout()
    return fig
