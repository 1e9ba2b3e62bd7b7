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
"""
import math
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
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


# --- the anti-windup variants on a toy plant (no training) -----------------------------------

# A fresh model (KL 0) asked for a KL the toy cannot reach (35 > 27: beta pins at beta_min),
# then a reachable 14; then an impossible KL 0 (beta pins at beta_max), then a reachable 8.
DEMO_SCHEDULE = [(600, 35.0), (900, 14.0), (2500, 0.0), (1500, 8.0)]


def toy_equilibrium_kl(beta: float, kl_at_zero: float = 27.0, half_beta: float = 1.7) -> float:
    """A stand-in for what a VAE's KL settles to under a constant beta: falls from
    ``kl_at_zero`` at beta = 0 and halves at beta = ``half_beta``."""
    return kl_at_zero * half_beta / (half_beta + beta)


def simulate_anti_windup(schedule: list[tuple[int, float]], *, kp: float, ki: float, beta_min: float,
                         beta_max: float, beta_init: float, lag: float = 50.0, noise: float = 0.5,
                         kl_start: float = 0.0, seed: int = 0,
                         variants: tuple[str, ...] = ANTI_WINDUP) -> pd.DataFrame:
    """Run each anti-windup variant on the same scripted plant; return the traces.

    ``schedule`` lists (steps, target KL) phases. The plant's KL moves a fraction 1/``lag`` of
    the way toward ``toy_equilibrium_kl(beta)`` each step, plus Gaussian batch noise (the same
    noise sequence for every variant). Columns: variant, step, target, kl, beta, unclamped, integral.
    """
    total = sum(n for n, _ in schedule)
    targets = np.concatenate([np.full(n, t, dtype=float) for n, t in schedule])
    shocks = np.random.default_rng(seed).normal(0.0, noise, size=total)
    rows = []
    for variant in variants:
        controller = PIController(targets[0], kp, ki, beta_min, beta_max, beta_init, anti_windup=variant)
        kl = kl_start
        for t in range(total):
            controller.target_kl = targets[t]
            observed = kl + shocks[t]
            beta = controller.step(observed)
            rows.append((variant, t + 1, targets[t], observed, beta, controller.unclamped, controller.integral))
            kl += (toy_equilibrium_kl(beta) - kl) / lag
    return pd.DataFrame(rows, columns=["variant", "step", "target", "kl", "beta", "unclamped", "integral"])


def phase_summary(traces: pd.DataFrame, schedule: list[tuple[int, float]], tail: float = 0.25,
                  near: float = 1.0) -> pd.DataFrame:
    """Per phase and variant: mean KL and beta over the phase's last ``tail``, and the steps
    from the phase's start until the KL first comes within ``near`` nats of the target (NaN: never)."""
    rows, start = [], 0
    for phase, (steps, target) in enumerate(schedule, 1):
        inside = traces[(traces["step"] > start) & (traces["step"] <= start + steps)]
        for variant, group in inside.groupby("variant", sort=False):
            last = group[group["step"] > start + steps * (1 - tail)]
            hits = group.loc[(group["kl"] - target).abs() < near, "step"]
            rows.append({"phase": phase, "target KL": target, "variant": variant,
                         "mean KL": last["kl"].mean(), "mean beta": last["beta"].mean(),
                         "steps to reach": hits.iloc[0] - start if len(hits) else float("nan")})
        start += steps
    return pd.DataFrame(rows)


# --- training one set point ------------------------------------------------------------------

def tail_mean(values, fraction: float = 0.1) -> float:
    """Mean of the last ``fraction`` of a sequence (at least one element)."""
    values = np.asarray(values, dtype=float)
    return float(values[-max(1, int(round(len(values) * fraction))):].mean())


@dataclass
class ControlledRun:
    model: VAE
    history: History
    summary: dict


def train_setpoint(train_images: torch.Tensor, test_images: torch.Tensor, beta: "float | PIController", *,
                   epochs: int, batch_size: int, lr: float, latent_dim: int = 10, hidden: int = 256,
                   seed: int = 0, progress: bool = False, max_batches: int | None = None) -> ControlledRun:
    """Train the report's VAE with a constant ``beta`` or one set by a ``PIController``.

    The model is initialised and the batches shuffled from ``seed``, so every run of a sweep
    starts from the same weights. The summary holds: target_kl (None for a constant beta),
    achieved_kl and settled_beta (means over the last 10% of training steps), final_beta (the
    last step's), the lowest and highest beta used, test recon/KL/ELBO, steps and seconds.
    ``max_batches``: ``train_vae``'s cap on batches an epoch (a dry run's).
    """
    controlled = isinstance(beta, PIController)
    device = train_images.device
    torch.manual_seed(seed)
    model = VAE(latent_dim=latent_dim, hidden=hidden).to(device)
    generator = torch.Generator(device=device).manual_seed(seed)
    started = time.perf_counter()
    history = train_vae(model, train_images, test_images, epochs=epochs, batch_size=batch_size, lr=lr,
                        beta=beta.step if controlled else float(beta), generator=generator, progress=progress,
                        max_batches=max_batches)
    test = evaluate(model, test_images)
    steps = history.steps
    summary = {"target_kl": beta.target_kl if controlled else None, "achieved_kl": tail_mean(steps["kl"]),
               "settled_beta": tail_mean(steps["beta"]), "final_beta": float(steps["beta"].iloc[-1]),
               "beta_min_seen": float(steps["beta"].min()), "beta_max_seen": float(steps["beta"].max()),
               "test_recon": test["recon"], "test_kl": test["kl"], "test_elbo": test["elbo"],
               "train_steps": len(steps), "seconds": time.perf_counter() - started}
    return ControlledRun(model=model, history=history, summary=summary)


# --- does the result depend on Ki? -------------------------------------------------------------

GAIN_COLUMNS = ("achieved KL", "settled beta", "test recon", "test KL", "classifier FID")


def gain_table(rows: list[dict], tolerance: float = 0.5) -> pd.DataFrame:
    """Runs of the set points at several I gains and lengths, one row each (``rows``: dicts with
    "set point", "Ki", "epochs" and ``GAIN_COLUMNS``), indexed by (set point, Ki, epochs), with
    "within" the ``tolerance`` of the set point added."""
    table = pd.DataFrame(rows).set_index(["set point", "Ki", "epochs"]).sort_index()
    if table.index.has_duplicates:
        raise ValueError(f"two runs share a (set point, Ki, epochs): {sorted(set(table.index[table.index.duplicated()]))}")
    table.insert(1, f"within {tolerance:g} nats", (table["achieved KL"] - table.index.get_level_values(0)).abs() <= tolerance)
    return table


def gain_effect(table: pd.DataFrame, paper_ki: float, profile_ki: float, epochs: int, tolerance: float = 0.5) -> str:
    """One sentence from ``gain_table``'s rows at ``epochs``: whether both gains hold every set point
    within ``tolerance``, and the differences (``paper_ki``'s run minus ``profile_ki``'s) in
    achieved KL, test reconstruction and classifier FID per set point."""
    targets = sorted({t for t, ki, e in table.index if e == epochs and ki in (paper_ki, profile_ki)})
    pairs = {t: (table.loc[(t, paper_ki, epochs)], table.loc[(t, profile_ki, epochs)]) for t in targets
             if (t, paper_ki, epochs) in table.index and (t, profile_ki, epochs) in table.index}
    if not pairs:
        return f"no pair of runs with Ki {paper_ki:g} and {profile_ki:g} at {epochs} epochs"
    off = [f"Ki {ki:g} leaves KL {t:g} at {row['achieved KL']:.2f}" for t, both in pairs.items()
           for ki, row in zip((paper_ki, profile_ki), both) if abs(row["achieved KL"] - t) > tolerance]
    settled = (f"At {epochs} epochs both gains hold {'every set point' if len(pairs) > 1 else 'the set point'} within "
               f"{tolerance:g} nats" if not off else f"At {epochs} epochs " + "; ".join(off) + f" (more than {tolerance:g} nats off)")
    names = " / ".join(f"{t:g}" for t in pairs)

    def gaps(column, digits):
        return " / ".join(f"{a[column] - b[column]:+.{digits}f}" for a, b in pairs.values())

    def largest_share(column):
        return max(abs(a[column] - b[column]) / abs(b[column]) for a, b in pairs.values() if b[column])

    return (f"{settled}. Ki {paper_ki:g} minus Ki {profile_ki:g} (KL {names}): achieved KL {gaps('achieved KL', 2)} nats, "
            f"test reconstruction {gaps('test recon', 2)} nats, classifier FID {gaps('classifier FID', 2)}; the largest "
            f"relative difference is {largest_share('test recon'):.1%} in reconstruction and "
            f"{largest_share('classifier FID'):.1%} in classifier FID (one seed: no interval).")
