"""The report's VAE (Kingma & Welling 2014) and one training loop for every beta rule.

Model: encoder 784 -> 256 -> 20, split into the mean mu and log-variance log(sigma^2) of a
10-d diagonal Gaussian q(z|x); decoder 10 -> 256 -> 784 Bernoulli logits p(x|z).

Loss per image, the negative ELBO with a weight beta on the KL term (beta = 1 is the VAE):

    recon = -log p(x|z) = sum over 784 pixels of BCE(logit, x)     (z ~ q(z|x), one sample)
    KL    = KL(q(z|x) || N(0, I)) = 1/2 * sum_j (mu_j^2 + sigma_j^2 - 1 - log sigma_j^2)
    loss  = recon + beta * KL

Both terms are summed over pixels / latent dimensions and averaged over the batch, so they
are in nats per image. The Bernoulli likelihood treats grey levels in [0, 1] as pixel
"on" probabilities: the usual choice for MNIST, and what BCE computes on non-binary targets.
"""
import time
from dataclasses import dataclass
from typing import Callable

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from nbhelpers import clock
from nbhelpers.models.latent import traversal_codes
from nbhelpers.progress import bar, epoch_line

IMAGE_PIXELS = 28 * 28


class VAE(nn.Module):
    def __init__(self, latent_dim: int = 10, hidden: int = 256):
        super().__init__()
        self.latent_dim = latent_dim
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(IMAGE_PIXELS, hidden), nn.ReLU(),
                                     nn.Linear(hidden, 2 * latent_dim))
        self.decoder = nn.Sequential(nn.Linear(latent_dim, hidden), nn.ReLU(),
                                     nn.Linear(hidden, IMAGE_PIXELS), nn.Unflatten(1, (1, 28, 28)))

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar

    @staticmethod
    def reparameterize(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        # z = mu + sigma * eps, eps ~ N(0, I): the sample is a differentiable function of (mu, sigma).
        return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)  # logits

    def forward(self, x: torch.Tensor):
        mu, logvar = self.encode(x)
        return self.decode(self.reparameterize(mu, logvar)), mu, logvar

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n images from the prior z ~ N(0, I), as pixel probabilities in [0, 1]."""
        device = next(self.parameters()).device
        z = torch.randn(n, self.latent_dim, generator=generator, device=device)
        return torch.sigmoid(self.decode(z))

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Decoded posterior means: the deterministic reconstruction of x, in [0, 1]."""
        return torch.sigmoid(self.decode(self.encode(x)[0]))


def vae_losses(logits, x, mu, logvar) -> tuple[torch.Tensor, torch.Tensor]:
    """(recon, KL), each in nats per image averaged over the batch (see the module doc)."""
    batch = x.shape[0]
    recon = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / batch
    kl = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum() / batch
    return recon, kl


@dataclass
class History:
    steps: pd.DataFrame                  # step, epoch, recon, kl, beta, loss (training batches)
    epochs: pd.DataFrame                 # epoch, train_* and test_* means, seconds
    images_per_second: float = 0.0


@torch.no_grad()
def evaluate(model: VAE, images: torch.Tensor, batch_size: int = 1000, beta: float = 1.0) -> dict:
    """Mean recon, KL and (beta-weighted) loss over ``images``; ELBO = -(recon + KL)."""
    model.eval()
    totals = torch.zeros(2, device=images.device)
    for start in range(0, len(images), batch_size):
        x = images[start:start + batch_size]
        logits, mu, logvar = model(x)
        recon, kl = vae_losses(logits, x, mu, logvar)
        totals += torch.stack([recon, kl]) * len(x)
    recon, kl = (totals / len(images)).tolist()
    model.train()
    return {"recon": recon, "kl": kl, "loss": recon + beta * kl, "elbo": -(recon + kl)}


BetaRule = Callable[[float], float]  # observed batch KL -> beta for this batch


def first_batches(items: torch.Tensor, batch_size: int, max_batches: int | None) -> torch.Tensor:
    """The first ``max_batches`` batches' worth of ``items`` (an epoch's order, a held-out set)."""
    return items if max_batches is None else items[:max_batches * batch_size]


@clock.phase("training")
def train_vae(model: VAE, train_images: torch.Tensor, test_images: torch.Tensor | None = None, *,
              epochs: int, batch_size: int = 128, lr: float = 1e-3, beta: float | BetaRule = 1.0,
              generator: torch.Generator | None = None, progress: bool = True, max_batches: int | None = None,
              name: str = "vae", progress_lines: bool = False) -> History:
    """Train with Adam on tensors already on the device; ``beta`` is a constant or a rule.

    A rule (e.g. ``control.PIController.step``) is called on every batch with that batch's
    KL, computed before the backward pass, and returns the beta used for that batch's loss.
    A constant beta needs no host synchronisation per step; a rule needs the KL as a float.
    ``max_batches`` caps the batches of each epoch and of the per-epoch test loss (a dry run's
    ``run.batch.max_batches``; None: all). With ``progress`` each epoch ends with a progress line
    named ``name``, beside a progress bar unless ``progress_lines`` (the output is a log: a batch
    run's ``run.batch.progress_lines``).
    """
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    rule = beta if callable(beta) else None
    step_rows, epoch_rows, seen, train_seconds = [], [], 0, 0.0
    model.train()
    for epoch in bar(range(1, epochs + 1), desc="VAE", unit="epoch", disable=not progress, lines=progress_lines):
        started = time.perf_counter()
        order = torch.randperm(len(train_images), device=train_images.device, generator=generator)
        order = first_batches(order, batch_size, max_batches)
        losses, betas = [], []
        for start in range(0, len(order), batch_size):
            x = train_images[order[start:start + batch_size]]
            logits, mu, logvar = model(x)
            recon, kl = vae_losses(logits, x, mu, logvar)
            beta_now = rule(kl.item()) if rule else float(beta)
            loss = recon + beta_now * kl
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(torch.stack([recon.detach(), kl.detach(), loss.detach()]))
            betas.append(beta_now)
        seen += len(order)
        train_seconds += time.perf_counter() - started
        values = torch.stack(losses).cpu()  # one host transfer per epoch
        step_rows += [(len(step_rows) + i + 1, epoch, b, *v) for i, (b, v) in enumerate(zip(betas, values.tolist()))]
        means = values.mean(0).tolist()
        row = {"epoch": epoch, "train_recon": means[0], "train_kl": means[1], "train_loss": means[2],
               "beta": betas[-1], "seconds": time.perf_counter() - started}
        if test_images is not None:
            test = evaluate(model, first_batches(test_images, batch_size, max_batches), beta=row["beta"])
            row.update({f"test_{k}": v for k, v in test.items()})
        epoch_rows.append(row)
        if progress:
            test_part = f" | test recon {row['test_recon']:.2f} KL {row['test_kl']:.2f}" if test_images is not None else ""
            print(epoch_line(name, epoch, epochs, f"recon {row['train_recon']:.2f} KL {row['train_kl']:.2f} "
                             f"beta {row['beta']:.3f}{test_part} | {row['seconds']:.1f}s"), flush=True)
    steps = pd.DataFrame(step_rows, columns=["step", "epoch", "beta", "recon", "kl", "loss"])
    return History(steps=steps, epochs=pd.DataFrame(epoch_rows),
                   images_per_second=seen / max(train_seconds, 1e-9))


@torch.no_grad()
def latent_means(model: VAE, images: torch.Tensor, batch_size: int = 2000) -> torch.Tensor:
    model.eval()
    means = torch.cat([model.encode(images[i:i + batch_size])[0] for i in range(0, len(images), batch_size)])
    model.train()
    return means


def pca_2d(points: torch.Tensor) -> torch.Tensor:
    """Project [N, d] points onto their two principal axes (centred SVD)."""
    centred = points - points.mean(0, keepdim=True)
    _, _, v = torch.linalg.svd(centred, full_matrices=False)
    return centred @ v[:2].T


@torch.no_grad()
def latent_traversal(model: VAE, steps: int = 10, span: float = 2.5) -> torch.Tensor:
    """[latent_dim * steps, 1, 28, 28]: row j varies z_j over [-span, span], the rest at 0."""
    device = next(model.parameters()).device
    values = torch.linspace(-span, span, steps, device=device)
    codes = traversal_codes(torch.zeros(model.latent_dim, device=device), values)   # row j: z_j over the values
    return torch.sigmoid(model.decode(codes))
