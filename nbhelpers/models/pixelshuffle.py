"""Sub-pixel convolution (PixelShuffle) and ICNR initialisation.

Sub-pixel convolution (Shi et al. 2016, "Real-Time Single Image and Video Super-Resolution
Using an Efficient Sub-Pixel Convolutional Neural Network", arXiv:1609.05158) upsamples by r
with an ordinary convolution at LOW resolution that produces C*r^2 channels, followed by a
free re-indexing ``nn.PixelShuffle(r)``:

    out[n, c, h*r + i, w*r + j] = in[n, c*r^2 + i*r + j, h, w]        (PyTorch's order)

so channel c*r^2 + i*r + j becomes output channel c at sub-pixel (i, j). The convolution
runs on H x W instead of rH x rW, which is why it is cheap; Shi et al. show it is equivalent
to a transposed (fractionally strided, stride 1/r) convolution.

Checkerboard artefacts and ICNR (Aitken et al. 2017, "Checkerboard artifact free sub-pixel
convolution", arXiv:1707.02937): with independent random kernels, the r^2 sub-pixels of each
r x r output block come from r^2 different kernels, so a smooth input gives a periodic r x r
pattern. ICNR ("initialised to convolution NN resize") draws ONE sub-kernel per output
channel c and copies it to the r^2 channels of its group, which in PyTorch's order are the
r^2 CONSECUTIVE channels c*r^2 ... c*r^2 + r^2 - 1 (``repeat_interleave``). At initialisation
conv + shuffle then equals nearest-neighbour upsampling of a C-channel convolution. A naive
``sub_kernel.repeat(r*r, 1, 1, 1)`` tiles the kernels (channel k gets sub-kernel k mod C):
right only when C = 1, wrong grouping otherwise.
"""
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn


def icnr_(weight: torch.Tensor, upscale: int,
          init: Callable[[torch.Tensor], torch.Tensor] = nn.init.kaiming_normal_) -> torch.Tensor:
    """Fill a conv weight [C*r^2, C_in, k, k] in place with ICNR; returns it.

    ``init`` initialises the [C, C_in, k, k] sub-kernel (default: Kaiming normal, He 2015).
    """
    group = upscale * upscale
    if weight.shape[0] % group:
        raise ValueError(f"{weight.shape[0]} output channels cannot feed PixelShuffle({upscale}): "
                         f"need a multiple of {group}")
    sub_kernel = torch.empty(weight.shape[0] // group, *weight.shape[1:], dtype=weight.dtype,
                             device=weight.device)
    init(sub_kernel)
    with torch.no_grad():
        weight.copy_(sub_kernel.repeat_interleave(group, dim=0))  # channel c*r^2+s <- kernel c
    return weight


def naive_repeat_(weight: torch.Tensor, upscale: int,
                  init: Callable[[torch.Tensor], torch.Tensor] = nn.init.kaiming_normal_) -> torch.Tensor:
    """The common mistake, kept to demonstrate it: tiles sub-kernels (channel k <- kernel k mod C)."""
    group = upscale * upscale
    sub_kernel = torch.empty(weight.shape[0] // group, *weight.shape[1:], dtype=weight.dtype,
                             device=weight.device)
    init(sub_kernel)
    with torch.no_grad():
        weight.copy_(sub_kernel.repeat(group, 1, 1, 1))
    return weight


def sub_kernels(weight: torch.Tensor, upscale: int) -> torch.Tensor:
    """The [C, C_in, k, k] kernels that ICNR copied: the first channel of each group."""
    return weight[:: upscale * upscale]


class SubPixelUpsample(nn.Module):
    """conv(C_in -> C_out * r^2, k x k, same padding) then PixelShuffle(r): [N, C_in, H, W] ->
    [N, C_out, rH, rW]. ``icnr=True`` starts it as nearest-neighbour upsampling of a conv."""

    def __init__(self, in_channels: int, out_channels: int, upscale: int = 2, kernel_size: int = 3,
                 icnr: bool = True, bias: bool = True):
        super().__init__()
        self.upscale = upscale
        self.conv = nn.Conv2d(in_channels, out_channels * upscale ** 2, kernel_size,
                              padding=kernel_size // 2, bias=bias)
        self.shuffle = nn.PixelShuffle(upscale)
        if icnr:
            icnr_(self.conv.weight, upscale)
            if bias:  # one bias per group too, so the r^2 sub-pixels still agree
                with torch.no_grad():
                    group_bias = self.conv.bias[:: upscale ** 2].clone()
                    self.conv.bias.copy_(group_bias.repeat_interleave(upscale ** 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shuffle(self.conv(x))


def nearest_equivalent(module: SubPixelUpsample, x: torch.Tensor) -> torch.Tensor:
    """What an ICNR-initialised ``module`` must equal: nearest-neighbour upsampling (x r) of the
    C_out-channel convolution with the sub-kernels (Aitken et al. 2017, section 3)."""
    conv = module.conv
    bias = None if conv.bias is None else conv.bias[:: module.upscale ** 2]
    low_res = F.conv2d(x, sub_kernels(conv.weight, module.upscale), bias, padding=conv.padding)
    return F.interpolate(low_res, scale_factor=module.upscale, mode="nearest")


def checkerboard_strength(images: torch.Tensor, upscale: int = 2) -> float:
    """Mean absolute deviation of each r x r block from its own mean, relative to the image's
    mean absolute value: 0 for nearest-neighbour-like output, large for a checkerboard."""
    blocks = F.avg_pool2d(images, upscale)
    block_means = F.interpolate(blocks, scale_factor=upscale, mode="nearest")
    return float((images - block_means).abs().mean() / images.abs().mean().clamp_min(1e-12))


def smooth_image(size: int = 16, seed: int = 0) -> torch.Tensor:
    """A smooth random [1, 1, size, size] image (blurred noise) to show checkerboards on."""
    generator = torch.Generator().manual_seed(seed)
    noise = torch.rand(1, 1, size // 4, size // 4, generator=generator)
    return F.interpolate(noise, size=(size, size), mode="bicubic", align_corners=False)


def report_demo(seed: int = 0, icnr: bool = False) -> dict[str, torch.Tensor]:
    """The report's demo: a random [1, 1, 16, 16] image -> conv (1 -> 4 channels, 3x3) ->
    [1, 4, 16, 16] -> PixelShuffle(2) -> [1, 1, 32, 32]. Returns the three tensors by name."""
    with torch.random.fork_rng(devices=[]), torch.no_grad():  # leaves the caller's RNG alone
        torch.manual_seed(seed)
        image = torch.rand(1, 1, 16, 16)
        block = SubPixelUpsample(1, 1, upscale=2, kernel_size=3, icnr=icnr)
        features = block.conv(image)
        upsampled = block.shuffle(features)
    return {"input": image, "conv": features, "pixel_shuffle": upsampled}
