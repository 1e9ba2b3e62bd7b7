"""Walks through a generative model's latent space: paths between codes, traversals along one
coordinate at a time, and decoding them to images.

    t = torch.linspace(0, 1, 9)
    paths = latent.slerp(z_a, z_b, t)                  # [N, 9, d]
    images = latent.decode_generator(G, paths)        # [N * 9, 1, 28, 28] in [0, 1]

Two interpolations between endpoints a, b (rows of [N, d]) at t in [0, 1]:

    linear:     lerp(a, b, t) = (1 - t) a + t b
    spherical:  slerp(a, b, t) = r(t) * [sin((1 - t) w) a^ + sin(t w) b^] / sin w,
                with a^ = a / |a|, b^ = b / |b|, cos w = a^ . b^, r(t) = (1 - t) |a| + t |b|

The direction moves along the great circle from a^ to b^ at constant angular speed (Shoemake
1985), and the norm moves linearly from |a| to |b|: between endpoints of equal norm r the path
keeps |z| = r, which is the textbook slerp applied to a and b. The angle is computed as
w = 2 atan2(|a^ - b^|, |a^ + b^|), which stays accurate near 0 and pi, where arccos does not.

Keeping the norm matters for Gaussian noise (White 2016, "Sampling Generative Networks"): |z|
of z ~ N(0, I_d) concentrates near sqrt(d), while the midpoint of a straight line between two
independent draws has norm near sqrt(d / 2), a region the generator almost never saw in training.

``traversal_codes`` builds the grid that varies one latent coordinate at a time around a centre
(the prior mean 0 in ``vae.latent_traversal``'s case).
"""
import math

import torch
from torch import nn

METHODS = ("linear", "slerp")
# Below this sin(w) (directions parallel or opposite) or this norm (an endpoint at 0) the great
# circle is undefined or numerically meaningless, and slerp falls back to the straight line.
DEGENERATE = 1e-6


def _endpoints(a: torch.Tensor, b: torch.Tensor, t) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """a, b as [N, d] (a single [d] vector becomes N = 1) and t as float64 [T] on their device."""
    if a.shape != b.shape:
        raise ValueError(f"endpoints differ in shape: {tuple(a.shape)} vs {tuple(b.shape)}")
    if a.ndim == 1:
        a, b = a.unsqueeze(0), b.unsqueeze(0)
    if a.ndim != 2:
        raise ValueError(f"endpoints must be [N, d] or [d], got {tuple(a.shape)}")
    t = torch.as_tensor(t, dtype=torch.float64, device=a.device).reshape(-1)
    if len(t) and (t.min() < 0 or t.max() > 1):
        raise ValueError(f"t must lie in [0, 1], got values from {t.min().item()} to {t.max().item()}")
    return a, b, t


def _combine(a: torch.Tensor, b: torch.Tensor, ca: torch.Tensor, cb: torch.Tensor) -> torch.Tensor:
    """ca[n, t] * a[n] + cb[n, t] * b[n] -> [N, T, d]. The coefficients are exactly 1 and 0 at
    the endpoints, so t = 0 returns a and t = 1 returns b bit for bit."""
    ca, cb = ca.to(a.dtype).unsqueeze(-1), cb.to(a.dtype).unsqueeze(-1)
    return ca * a.unsqueeze(1) + cb * b.unsqueeze(1)


def lerp(a: torch.Tensor, b: torch.Tensor, t) -> torch.Tensor:
    """Linear interpolation (1 - t) a + t b of each row pair of a, b [N, d] at every t in
    [0, 1] ([T]): [N, T, d]."""
    a, b, t = _endpoints(a, b, t)
    ca = (1 - t).expand(len(a), -1)
    return _combine(a, b, ca, t.expand(len(a), -1))


def slerp(a: torch.Tensor, b: torch.Tensor, t, degenerate: float = DEGENERATE) -> torch.Tensor:
    """Spherical interpolation of each row pair of a, b [N, d] at every t in [0, 1] ([T]):
    [N, T, d] (formula in the module doc). Pairs whose directions are (anti)parallel, or with an
    endpoint at 0, have no unique great circle: they get the straight line, which is exact for
    parallel endpoints and passes through 0 for opposite ones."""
    a, b, t = _endpoints(a, b, t)
    a64, b64 = a.double(), b.double()
    norm_a, norm_b = a64.norm(dim=1, keepdim=True), b64.norm(dim=1, keepdim=True)  # [N, 1]
    unit_a, unit_b = a64 / norm_a.clamp_min(1e-300), b64 / norm_b.clamp_min(1e-300)
    # w = 2 atan2(|a^ - b^|, |a^ + b^|), the angle between a^ and b^ (module doc)
    w = 2 * torch.atan2((unit_a - unit_b).norm(dim=1, keepdim=True), (unit_a + unit_b).norm(dim=1, keepdim=True))
    sin_w = torch.sin(w)
    # z = ca a + cb b with ca = sin((1 - t) w) / sin w * r(t) / |a| and cb = sin(t w) / sin w * r(t) / |b|
    radius = (1 - t) * norm_a + t * norm_b                                        # r(t), [N, T]
    ca = torch.sin((1 - t) * w) / sin_w * radius / norm_a
    cb = torch.sin(t * w) / sin_w * radius / norm_b
    straight = (sin_w < degenerate) | (norm_a < degenerate) | (norm_b < degenerate)  # [N, 1]
    ca = torch.where(straight, (1 - t).expand_as(ca), ca)
    cb = torch.where(straight, t.expand_as(cb), cb)
    # sin((1 - t) w) / sin w is 1 at t = 0 only up to the last bit of two sin calls: pin the ends
    ca = torch.where(t == 0, 1.0, torch.where(t == 1, 0.0, ca))
    cb = torch.where(t == 0, 0.0, torch.where(t == 1, 1.0, cb))
    return _combine(a, b, ca, cb)


def interpolate(a: torch.Tensor, b: torch.Tensor, steps: int, method: str = "slerp") -> torch.Tensor:
    """``steps`` evenly spaced points from a to b (both ends included) by ``method`` ("linear" or
    "slerp"): [N, steps, d]."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if steps < 2:
        raise ValueError(f"an interpolation needs at least its two endpoints, got steps={steps}")
    t = torch.linspace(0, 1, steps, dtype=torch.float64)
    return (lerp if method == "linear" else slerp)(a, b, t)


def traversal_codes(center: torch.Tensor, values) -> torch.Tensor:
    """[d * S, d] codes: block j (S rows) is ``center`` [d] with coordinate j replaced by
    center_j + v for each of the S ``values``, so that block j shows what coordinate j does."""
    if center.ndim != 1:
        raise ValueError(f"the centre must be one code [d], got {tuple(center.shape)}")
    values = torch.as_tensor(values, dtype=center.dtype, device=center.device).reshape(-1)
    d, s = len(center), len(values)
    codes = center.expand(d, s, d).clone()
    dims = torch.arange(d, device=center.device)
    codes[dims, :, dims] += values          # codes[j, :, j] = center_j + values
    return codes.reshape(d * s, d)


def gaussian_noise(count: int, dim: int, seed: int) -> torch.Tensor:
    """``count`` draws of z ~ N(0, I_dim), seeded and drawn on the CPU (the same z on every device)."""
    return torch.randn(count, dim, generator=torch.Generator().manual_seed(seed))


@torch.no_grad()
def _decode(decode, module: nn.Module, z: torch.Tensor, batch_size: int) -> torch.Tensor:
    """``decode`` applied to z ([..., d], flattened to rows) in eval mode (restored afterwards),
    in batches, on the module's device: [rows, 1, 28, 28]."""
    device = next(module.parameters()).device
    rows = z.reshape(-1, z.shape[-1])
    was_training = module.training
    module.eval()
    try:
        images = [decode(chunk.to(device=device, dtype=torch.float32)) for chunk in rows.split(batch_size)]
    finally:
        module.train(was_training)
    return torch.cat(images).reshape(len(rows), 1, 28, 28)


def decode_vae(model: nn.Module, z: torch.Tensor, batch_size: int = 2000) -> torch.Tensor:
    """A VAE's decoder means sigmoid(decode(z)) for codes z [..., latent_dim]: pixel
    probabilities [rows, 1, 28, 28], rows in the order of z (paths: N blocks of T)."""
    return _decode(lambda rows: torch.sigmoid(model.decode(rows)), model, z, batch_size)


def decode_generator(generator: nn.Module, z: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """A GAN generator's images for noise z [..., latent_dim], its tanh output in [-1, 1]
    mapped to [0, 1] by (x + 1) / 2 (as ``gan.sample_images``): [rows, 1, 28, 28]."""
    return _decode(lambda rows: generator(rows).float().add(1).div(2).clamp(0, 1), generator, z, batch_size)


def path_norms(paths: torch.Tensor) -> torch.Tensor:
    """Mean |z| over the N paths of [N, T, d] at each of the T steps: [T]."""
    return paths.double().norm(dim=-1).mean(0)


def typical_norm(dim: int) -> float:
    """E|z| for z ~ N(0, I_dim): sqrt(2) Gamma((d + 1) / 2) / Gamma(d / 2), close to sqrt(d)."""
    return math.sqrt(2) * math.exp(math.lgamma((dim + 1) / 2) - math.lgamma(dim / 2))


def norms_text(walks: dict[str, torch.Tensor]) -> str:
    """Lines of mean |z| at each step of every {method: paths [N, T, d]}, after E|z| of N(0, I_d)."""
    dim = next(iter(walks.values())).shape[-1]
    lines = [f"mean |z| along the paths, t = 0 to 1 (a draw from N(0, I_{dim}) has E|z| = {typical_norm(dim):.2f}):"]
    lines += [f"  {method:>6}: " + " ".join(f"{v:.2f}" for v in path_norms(paths).tolist())
              for method, paths in walks.items()]
    return "\n".join(lines)
