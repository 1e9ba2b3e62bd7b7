"""The report's GAN networks, shared by the GAN, WGAN and SS-GAN notebooks.

Generator (the report's latent size 64; upsampling by sub-pixel convolution, Shi et al. 2016):

    z [N, 64] -> Linear -> [N, c0, 7, 7] -> BN, ReLU
      -> SubPixelUpsample(c0 -> c1, x2) -> [N, c1, 14, 14] -> BN, ReLU
      -> SubPixelUpsample(c1 -> 1, x2) -> [N, 1, 28, 28] -> tanh, in (-1, 1)

Every convolution runs at 7x7 or 14x14: the last one (c1 -> 4 channels at 14x14) is shuffled
straight into the 28x28 image, so nothing is computed at full resolution (on CPU a 28x28 conv
with few channels costs as much as the 7x7 one with many, at a fraction of its usefulness).

Discriminator / critic (the report's two stride-2 convolutions and 7*7*64 flatten):

    x [N, 1, 28, 28] -> conv 4x4/2 (1 -> d1) -> LeakyReLU(0.2) -> [N, d1, 14, 14]
      -> conv 4x4/2 (d1 -> 64) -> [norm] -> LeakyReLU(0.2) -> [N, 64, 7, 7]
      -> flatten [N, 3136] -> Linear -> [N] real/fake score
                          \\-> Linear -> [N, 4] rotation logits (SS-GAN only, same trunk)

``norm`` picks "none", "batch" (BatchNorm after the second conv) or "spectral" (spectral
normalisation of every weight, Miyato et al. 2018). A WGAN critic uses "none": the critic must
be a function of single samples, and BatchNorm makes each output depend on the batch. SS-GAN
uses "spectral": BatchNorm statistics over mixed upright/rotated batches break it.
``output`` is "logit" (raw score: BCE-with-logits GANs, WGAN critics) or "sigmoid"
(a probability, as in the report's network).
"""
import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from nbhelpers.models.pixelshuffle import SubPixelUpsample

LATENT_DIM = 64
IMAGE_SHAPE = (1, 28, 28)
NORMS = ("none", "batch", "spectral")
OUTPUTS = ("logit", "sigmoid")
ROTATIONS = 4  # 0, 90, 180, 270 degrees


class Generator(nn.Module):
    """z [N, latent_dim] -> images [N, 1, 28, 28] in (-1, 1)."""

    def __init__(self, latent_dim: int = LATENT_DIM, channels: tuple[int, int] = (64, 32),
                 icnr: bool = True):
        super().__init__()
        c0, c1 = channels
        self.latent_dim = latent_dim
        self.project = nn.Linear(latent_dim, c0 * 7 * 7)
        self.body = nn.Sequential(
            nn.Unflatten(1, (c0, 7, 7)),
            nn.BatchNorm2d(c0), nn.ReLU(inplace=True),
            SubPixelUpsample(c0, c1, upscale=2, icnr=icnr),   # 7x7 -> 14x14
            nn.BatchNorm2d(c1), nn.ReLU(inplace=True),
            SubPixelUpsample(c1, IMAGE_SHAPE[0], upscale=2, icnr=icnr),  # 14x14 -> 28x28
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.body(self.project(z))


class Discriminator(nn.Module):
    """images [N, 1, 28, 28] -> score [N]; with ``rotation_head`` also [N, 4] rotation logits."""

    def __init__(self, first_channels: int = 32, norm: str = "none", output: str = "logit",
                 rotation_head: bool = False):
        super().__init__()
        if norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
        if output not in OUTPUTS:
            raise ValueError(f"output must be one of {OUTPUTS}, got {output!r}")
        self.norm, self.output = norm, output
        wrap = spectral_norm if norm == "spectral" else (lambda layer: layer)
        flat = 64 * 7 * 7  # the report's 7*7*64
        self.trunk = nn.Sequential(
            wrap(nn.Conv2d(IMAGE_SHAPE[0], first_channels, 4, stride=2, padding=1)),  # 28 -> 14
            nn.LeakyReLU(0.2, inplace=True),
            wrap(nn.Conv2d(first_channels, 64, 4, stride=2, padding=1)),             # 14 -> 7
            nn.BatchNorm2d(64) if norm == "batch" else nn.Identity(),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Flatten(),
        )
        self.score_head = wrap(nn.Linear(flat, 1))
        self.rotation_head = wrap(nn.Linear(flat, ROTATIONS)) if rotation_head else None

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """The shared trunk: [N, 1, 28, 28] -> [N, 3136]."""
        return self.trunk(images)

    def score(self, features: torch.Tensor) -> torch.Tensor:
        """Real/fake output [N]: a logit, or a probability when ``output == "sigmoid"``."""
        logit = self.score_head(features).squeeze(1)
        return torch.sigmoid(logit) if self.output == "sigmoid" else logit

    def rotation_logits(self, features: torch.Tensor) -> torch.Tensor:
        """[N, 4] logits over rotations by 0, 90, 180, 270 degrees."""
        if self.rotation_head is None:
            raise RuntimeError("this discriminator was built without rotation_head=True")
        return self.rotation_head(features)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.score(self.features(images))


def parameter_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def describe(module: nn.Module) -> str:
    """A stable text description of an architecture (used in checkpoint config hashes)."""
    return f"{module!r} params={parameter_count(module)}"
