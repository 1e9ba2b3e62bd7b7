"""ControlVAE (Shao et al., ICML 2020): a PI controller that sets the KL weight beta.

The VAE loss is ``recon + beta(t) * KL``; on every training step the controller reads the
batch KL (computed before that batch's backward pass) and returns beta(t):

    e(t)    = KL_target - KL_observed(t)                 (> 0: KL too low, lower beta)
    P(t)    = Kp / (1 + exp(e(t)))                       in (0, Kp): a bounded, non-linear P term
    I(t)    = I(t-1) - Ki * e(t)                         integrates the error (Ki > 0)
    b(t)    = P(t) + I(t) + beta_min                     the unclamped output
    beta(t) = clamp(b(t), beta_min, beta_max)

with I(0) = beta_init - beta_min and b(0) = beta_init.

Anti-windup by conditional integration: I is updated only when the previous UNCLAMPED output
b(t-1) lies in [beta_min, beta_max], or when it lies outside but the error drives it back
(b(t-1) > beta_max and e > 0, or b(t-1) < beta_min and e < 0). Two flawed variants are kept
for the notebook's comparison (``anti_windup=``):

- ``"clamped"``: the paper's Algorithm 1 tests the clamped beta(t-1), which is always in
  range, so I is never frozen and winds up while beta sits at a bound;
- ``"freeze"``: tests the unclamped b(t-1) but lacks the way back: once I itself has crossed
  a bound, b stays outside for good (P alone cannot bring it back) and so does beta.

``train_setpoint`` trains the report's VAE with a constant beta or a controller. The toy plant
that compares the three rules, and the study around the trained VAEs, are
``studies.controlvae_study``'s.
"""
import math
import time
from dataclasses import dataclass

import numpy as np
import torch

from nbhelpers.models.vae import VAE, History, evaluate, train_vae

ANTI_WINDUP = ("conditional", "clamped", "freeze")


def p_term(kp: float, error: float) -> float:
    """Kp / (1 + exp(e)) without overflow: for e > 0 rewrite as Kp * exp(-e) / (1 + exp(-e))."""
    if error > 0:
        decay = math.exp(-error)  # in (0, 1): never overflows, underflows harmlessly to 0
        return kp * decay / (1.0 + decay)
    return kp / (1.0 + math.exp(error))  # exp(e) <= 1 here


class PIController:
    """beta = clamp(P + I + beta_min); call ``step(observed_kl)`` once per training batch.

    ``kl_ema`` in [0, 1) optionally smooths the observed KL before the error is formed,
    KL_s(t) = kl_ema * KL_s(t-1) + (1 - kl_ema) * KL(t), starting at KL_s(1) = KL(1);
    0 (the default) feeds the raw batch KL, as the paper and the official code do.
    """

    def __init__(self, target_kl: float, kp: float, ki: float, beta_min: float, beta_max: float,
                 beta_init: float, *, kl_ema: float = 0.0, anti_windup: str = "conditional"):
        if not beta_min <= beta_init <= beta_max:
            raise ValueError(f"beta_init {beta_init} must lie in [beta_min, beta_max] = [{beta_min}, {beta_max}]")
        if kp < 0 or ki < 0:
            raise ValueError(f"gains must be non-negative (kp={kp}, ki={ki})")
        if not 0.0 <= kl_ema < 1.0:
            raise ValueError(f"kl_ema must lie in [0, 1), got {kl_ema}")
        if anti_windup not in ANTI_WINDUP:
            raise ValueError(f"anti_windup must be one of {ANTI_WINDUP}, got {anti_windup!r}")
        self.target_kl, self.kp, self.ki = float(target_kl), float(kp), float(ki)
        self.beta_min, self.beta_max = float(beta_min), float(beta_max)
        self.kl_ema, self.anti_windup = float(kl_ema), anti_windup
        self.integral = beta_init - beta_min     # I
        self.unclamped = float(beta_init)        # b(t-1)
        self.beta = float(beta_init)             # beta(t-1), the clamped output
        self.smoothed_kl = None                  # KL_s(t-1)

    def _integrates(self, error: float) -> bool:
        low, high = self.beta_min, self.beta_max
        if self.anti_windup == "clamped":
            return low <= self.beta <= high      # always true: the paper's test never fires
        if low <= self.unclamped <= high:
            return True
        if self.anti_windup == "freeze":
            return False
        return (self.unclamped > high and error > 0) or (self.unclamped < low and error < 0)

    def step(self, observed_kl: float) -> float:
        """Feed the batch KL (nats per image); return the beta for this batch's loss."""
        kl = float(observed_kl)
        if self.kl_ema and self.smoothed_kl is not None:
            kl = self.kl_ema * self.smoothed_kl + (1.0 - self.kl_ema) * kl
        self.smoothed_kl = kl
        error = self.target_kl - kl
        if self._integrates(error):
            self.integral -= self.ki * error
        self.unclamped = p_term(self.kp, error) + self.integral + self.beta_min
        self.beta = min(max(self.unclamped, self.beta_min), self.beta_max)
        return self.beta

    __call__ = step


# --- training one set point ------------------------------------------------------------------

def tail_mean(values, fraction: float = 0.1) -> float:
    """Mean of the last ``fraction`` of a sequence (at least one element)."""
    values = np.asarray(values, dtype=float)
    return float(values[-max(1, int(round(len(values) * fraction))):].mean())


@dataclass
class TrainedVAE:
    """A VAE trained by ``train_setpoint`` (constant or controlled beta), with its history and summary."""
    model: VAE
    history: History
    summary: dict


def train_setpoint(train_images: torch.Tensor, test_images: torch.Tensor, beta: "float | PIController", *,
                   epochs: int, batch_size: int, lr: float, latent_dim: int = 10, hidden: int = 256,
                   seed: int = 0, progress: bool = False, max_batches: int | None = None,
                   progress_lines: bool = False) -> TrainedVAE:
    """Train the report's VAE with a constant ``beta`` or one set by a ``PIController``.

    The model is initialised and the batches shuffled from ``seed``, so every run of a sweep
    starts from the same weights. The summary holds: target_kl (None for a constant beta),
    achieved_kl and settled_beta (means over the last 10% of training steps), final_beta (the
    last step's), the lowest and highest beta used, test recon/KL/ELBO, steps and seconds.
    ``max_batches`` and ``progress_lines``: as ``train_vae``'s (a batch run's).
    """
    controlled = isinstance(beta, PIController)
    device = train_images.device
    torch.manual_seed(seed)
    model = VAE(latent_dim=latent_dim, hidden=hidden).to(device)
    generator = torch.Generator(device=device).manual_seed(seed)
    started = time.perf_counter()
    history = train_vae(model, train_images, test_images, epochs=epochs, batch_size=batch_size, lr=lr,
                        beta=beta.step if controlled else float(beta), generator=generator, progress=progress,
                        max_batches=max_batches, progress_lines=progress_lines)
    test = evaluate(model, test_images)
    steps = history.steps
    summary = {"target_kl": beta.target_kl if controlled else None, "achieved_kl": tail_mean(steps["kl"]),
               "settled_beta": tail_mean(steps["beta"]), "final_beta": float(steps["beta"].iloc[-1]),
               "beta_min_seen": float(steps["beta"].min()), "beta_max_seen": float(steps["beta"].max()),
               "test_recon": test["recon"], "test_kl": test["kl"], "test_elbo": test["elbo"],
               "train_steps": len(steps), "seconds": time.perf_counter() - started}
    return TrainedVAE(model=model, history=history, summary=summary)
