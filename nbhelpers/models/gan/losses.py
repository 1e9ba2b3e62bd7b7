"""GAN objectives that plug into the one training loop in ``nbhelpers.models.gan.loop``.

An objective tells the loop four things (see ``Objective``):

- ``critic_steps(generator_step)``: how many discriminator/critic updates precede the next
  generator update (1 for a GAN; n_critic, or the WGAN paper's schedule, for a WGAN);
- ``discriminator_loss(D, real, fake)`` and ``generator_loss(D, fake)``: a scalar loss and a
  dict of detached scalar statistics (mean D outputs, rotation accuracies, ...);
- ``after_discriminator_step(D)``: a hook run after every optimiser step of D (WGAN clipping).

Three objectives:

``NonSaturatingGAN``  (Goodfellow et al. 2014, "Generative Adversarial Nets", sec. 3)
    D maximises  E_x[log D(x)] + E_z[log(1 - D(G(z)))], so
        L_D = -mean log D(x) - mean log(1 - D(G(z)))
    G minimises the non-saturating  L_G = -mean log D(G(z))  (strong gradients early on,
    when log(1 - D(G(z))) saturates). With logits s: log D = log sigmoid(s), computed by
    ``binary_cross_entropy_with_logits`` for numerical stability.

``WassersteinGAN``  (Arjovsky et al. 2017, "Wasserstein GAN", Algorithm 1)
    By Kantorovich-Rubinstein duality W(P_r, P_g) = sup_{||f||_L <= 1} E_r[f] - E_g[f].
    The critic f (no sigmoid) minimises  L_D = mean f(G(z)) - mean f(x)  (so -L_D estimates
    W up to the Lipschitz constant), G minimises  L_G = -mean f(G(z)), and every critic
    parameter is clipped to [-c, c] after each critic update, which keeps f K-Lipschitz.
    n_critic critic updates per generator update; the paper's code uses 100 for the first
    25 generator iterations and on every 500th, so the critic is near-optimal there.

``SelfSupervisedGAN``  (Chen et al. 2019, "Self-Supervised GANs via Auxiliary Rotation Loss")
    D gets a 4-way rotation head on the shared trunk. With r in {0, 90, 180, 270} degrees,
    x^r the rotated image and Q(r | x^r) the rotation head's softmax:
        L_D = L_D^GAN(upright images only) - beta  * E_{x, r}[log Q(r | x^r)]       (real)
        L_G = L_G^GAN(upright images only) - alpha * E_{z, r}[log Q(r | G(z)^r)]    (fake)
    (paper: beta = 1, alpha = 0.2). Rotations are true rotations (``torch.rot90``), and each
    image of a batch gets one of the four (a quarter of the batch per angle, as in
    kwotsin/mimicry), so the rotation term costs one extra trunk pass, not four.
"""
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


def has_batch_statistics(module: nn.Module) -> bool:
    """True when some layer's output depends on the rest of the batch (BatchNorm)."""
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules())


def trunk_features(discriminator: nn.Module, *batches: torch.Tensor) -> list[torch.Tensor]:
    """``D.features`` of each batch. Without BatchNorm every sample's features depend on that
    sample alone, so one call on the concatenation computes the same function, faster; with
    BatchNorm the batches are kept apart so that their statistics never mix."""
    if has_batch_statistics(discriminator) or len(batches) == 1:
        return [discriminator.features(batch) for batch in batches]
    features = discriminator.features(torch.cat(batches))
    return list(features.split([len(batch) for batch in batches]))


def mean_of(values: torch.Tensor) -> torch.Tensor:
    return values.detach().float().mean()


class Objective:
    """Base class: a GAN objective for ``nbhelpers.models.gan.loop.train``."""

    name = "gan"
    critic_role = "discriminator"          # how saved files and tables call D
    discriminator_stats: tuple[str, ...] = ("d_real", "d_fake")
    generator_stats: tuple[str, ...] = ()

    def critic_steps(self, generator_step: int) -> int:
        return 1

    def check(self, discriminator: nn.Module) -> None:
        """Raise ValueError when ``discriminator`` cannot serve this objective."""

    def discriminator_loss(self, discriminator, real, fake) -> tuple[torch.Tensor, dict]:
        raise NotImplementedError

    def generator_loss(self, discriminator, fake) -> tuple[torch.Tensor, dict]:
        raise NotImplementedError

    def after_discriminator_step(self, discriminator: nn.Module) -> None:
        pass

    def describe(self) -> dict:
        """Settings that define the objective (part of the checkpoint's config hash)."""
        return {"name": self.name, **{k: v for k, v in vars(self).items() if not k.startswith("_")}}


class NonSaturatingGAN(Objective):
    """Goodfellow et al. 2014 with the non-saturating generator loss."""

    name = "gan"

    def _log_terms(self, discriminator, scores: torch.Tensor, target_is_real: bool) -> torch.Tensor:
        """-mean log D (target real) or -mean log(1 - D) (target fake)."""
        target = torch.full_like(scores, 1.0 if target_is_real else 0.0)
        if discriminator.output == "sigmoid":
            return F.binary_cross_entropy(scores, target)   # clamps log at -100
        return F.binary_cross_entropy_with_logits(scores, target)

    def _probability(self, discriminator, scores: torch.Tensor) -> torch.Tensor:
        return mean_of(scores if discriminator.output == "sigmoid" else torch.sigmoid(scores))

    def gan_discriminator_loss(self, discriminator, real_features, fake_features):
        real_scores = discriminator.score(real_features)
        fake_scores = discriminator.score(fake_features)
        loss = (self._log_terms(discriminator, real_scores, True)
                + self._log_terms(discriminator, fake_scores, False))
        stats = {"d_real": self._probability(discriminator, real_scores),
                 "d_fake": self._probability(discriminator, fake_scores)}
        return loss, stats

    def discriminator_loss(self, discriminator, real, fake):
        real_features, fake_features = trunk_features(discriminator, real, fake)
        return self.gan_discriminator_loss(discriminator, real_features, fake_features)

    def generator_loss(self, discriminator, fake):
        scores = discriminator.score(discriminator.features(fake))
        return self._log_terms(discriminator, scores, True), {}


@dataclass
class WassersteinGAN(Objective):
    """Arjovsky et al. 2017: critic with weight clipping and n_critic critic steps.

    ``schedule="constant"``: n_critic steps before every generator step;
    ``schedule="paper"``: 100 steps for the first 25 generator steps and every 500th.
    """

    clip: float = 0.01
    n_critic: int = 5
    schedule: str = "constant"

    name = "wgan"
    critic_role = "critic"
    WARMUP_GENERATOR_STEPS = 25
    BURST_EVERY = 500
    BURST_CRITIC_STEPS = 100

    def __post_init__(self):
        if self.schedule not in ("constant", "paper"):
            raise ValueError(f"schedule must be 'constant' or 'paper', got {self.schedule!r}")
        if self.clip <= 0 or self.n_critic < 1:
            raise ValueError("clip must be > 0 and n_critic >= 1")

    def critic_steps(self, generator_step: int) -> int:
        if self.schedule == "paper" and (generator_step < self.WARMUP_GENERATOR_STEPS
                                         or generator_step % self.BURST_EVERY == 0):
            return self.BURST_CRITIC_STEPS
        return self.n_critic

    def check(self, discriminator):
        if getattr(discriminator, "output", "logit") != "logit":
            raise ValueError("a WGAN critic outputs an unbounded score: build it with output='logit'")
        if has_batch_statistics(discriminator):
            raise ValueError("a WGAN critic must not use BatchNorm: f must be a function of single "
                             "samples for E_r[f] - E_g[f] to estimate the Wasserstein distance")

    def discriminator_loss(self, discriminator, real, fake):
        real_features, fake_features = trunk_features(discriminator, real, fake)
        f_real = discriminator.score(real_features)
        f_fake = discriminator.score(fake_features)
        loss = f_fake.mean() - f_real.mean()
        return loss, {"d_real": mean_of(f_real), "d_fake": mean_of(f_fake)}

    def generator_loss(self, discriminator, fake):
        return -discriminator.score(discriminator.features(fake)).mean(), {}

    @torch.no_grad()
    def after_discriminator_step(self, discriminator):
        for parameter in discriminator.parameters():
            parameter.clamp_(-self.clip, self.clip)


def rotate_quarters(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotate the k-th quarter of the batch by k * 90 degrees (counter-clockwise, true
    rotations by ``torch.rot90`` over H, W). Returns (rotated images, labels k in 0..3)."""
    count = images.shape[0]
    labels = torch.arange(count, device=images.device) * 4 // count  # k = floor(4 i / count)
    starts = [(count * k + 3) // 4 for k in range(5)]                # first i with label k
    chunks = images.split([starts[k + 1] - starts[k] for k in range(4)])
    rotated = torch.cat([torch.rot90(chunk, k, dims=(2, 3)) for k, chunk in enumerate(chunks)])
    return rotated, labels


@dataclass
class SelfSupervisedGAN(NonSaturatingGAN):
    """Chen et al. 2019: non-saturating GAN + rotation prediction (beta for D, alpha for G).

    ``score_rotated=True`` reproduces a common bug, for the notebook's failure-mode demo only:
    the real/fake head also scores the rotated images (rotated reals as real, rotated fakes as
    fake), so D can tell real from fake by orientation cues instead of by content.
    """

    alpha: float = 0.2
    beta: float = 1.0
    score_rotated: bool = False

    name = "ssgan"
    discriminator_stats = ("d_real", "d_fake", "rotation_loss_real", "rotation_accuracy_real")
    generator_stats = ("rotation_loss_fake", "rotation_accuracy_fake")

    def check(self, discriminator):
        if getattr(discriminator, "rotation_head", None) is None:
            raise ValueError("SS-GAN needs a discriminator built with rotation_head=True")

    def _rotation_terms(self, discriminator, features, labels):
        logits = discriminator.rotation_logits(features)
        loss = F.cross_entropy(logits, labels)
        accuracy = (logits.detach().argmax(1) == labels).float().mean()
        return loss, accuracy

    def discriminator_loss(self, discriminator, real, fake):
        rotated_real, labels = rotate_quarters(real)
        real_features, fake_features, rotated_features = trunk_features(
            discriminator, real, fake, rotated_real)
        if self.score_rotated:  # the bug: rotated images leak into the real/fake logits
            rotated_fake, _ = rotate_quarters(fake)
            real_features = torch.cat([real_features, rotated_features])
            fake_features = torch.cat([fake_features, discriminator.features(rotated_fake)])
        # Real/fake scores from the UPRIGHT batches only; the rotation head sees only rotated reals.
        gan_loss, stats = self.gan_discriminator_loss(discriminator, real_features, fake_features)
        rotation_loss, accuracy = self._rotation_terms(discriminator, rotated_features, labels)
        stats.update(rotation_loss_real=rotation_loss.detach(), rotation_accuracy_real=accuracy)
        return gan_loss + self.beta * rotation_loss, stats

    def generator_loss(self, discriminator, fake):
        rotated_fake, labels = rotate_quarters(fake)
        if self.alpha == 0 and not self.score_rotated:  # rotation term as a statistic only
            fake_features = discriminator.features(fake)
            with torch.no_grad():
                rotated_features = discriminator.features(rotated_fake)
        else:
            fake_features, rotated_features = trunk_features(discriminator, fake, rotated_fake)
        scored = torch.cat([fake_features, rotated_features]) if self.score_rotated else fake_features
        gan_loss = self._log_terms(discriminator, discriminator.score(scored), True)
        rotation_loss, accuracy = self._rotation_terms(discriminator, rotated_features, labels)
        stats = {"rotation_loss_fake": rotation_loss.detach(), "rotation_accuracy_fake": accuracy}
        return gan_loss + self.alpha * rotation_loss, stats
