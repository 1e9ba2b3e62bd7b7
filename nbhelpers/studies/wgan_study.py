"""What only the WGAN study (notebook 04) needs on top of ``gan_study``: the named WGAN
settings, training one of them, the Wasserstein estimate, and the critic's weights against
the clip box.

    runs = {s: wgan_study.train_setting(s, images, P, evaluator, run.out_dir) for s in settings}
    wgan_study.plot_estimate(runs["report"].history)
    wgan_study.clip_statistics(runs["report"].discriminator, runs["report"].objective.clip)

The Wasserstein estimate. The critic minimises L_C = mean f(G(z)) - mean f(x), so
-L_C = mean f(x) - mean f(G(z)) is the dual objective of the Kantorovich-Rubinstein formula
W(P_r, P_g) = sup_{||f||_L <= 1} E_r[f] - E_g[f] evaluated at the current critic: an estimate
of K * W (K the Lipschitz constant that clipping allows), a lower bound while f is not optimal.
"""
import copy
from dataclasses import replace
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from torch import nn

from nbhelpers.environment import BatchContext
from nbhelpers.metrics.evaluator import Evaluator
from nbhelpers.models import gan
from nbhelpers.models.gan import losses as gan_losses, nets as gan_nets
from nbhelpers.report import plots
from nbhelpers.studies import facts, gan_compare, gan_study

# ----------------------------------------------------------------------------- settings

def wgan_setting(name: str) -> tuple[gan_losses.WassersteinGAN, dict]:
    """``(objective, GanConfig overrides)`` of a named preset (``facts.WGAN_PRESETS``)."""
    if name not in facts.WGAN_PRESETS:
        raise ValueError(f"unknown WGAN setting {name!r}; expected one of {sorted(facts.WGAN_PRESETS)}")
    preset = facts.WGAN_PRESETS[name]
    return gan_losses.WassersteinGAN(**preset["objective"]), dict(preset["optimizer"])


def settings_to_run(main: str, others=()) -> list[str]:
    """The main setting then the others, without repeats; an unknown name is an error now,
    before any work."""
    ordered = list(dict.fromkeys([main, *others]))
    for setting in ordered:
        wgan_setting(setting)
    return ordered


def model_name(setting: str, main: str) -> str:
    """``wgan`` for the notebook's main setting, ``wgan_<setting>`` for the others."""
    return "wgan" if setting == main else f"wgan_{setting}"



def objective_for(setting: str, report_n_critic: int = 0) -> tuple[gan_losses.WassersteinGAN, dict]:
    """``wgan_setting(setting)``, with the ``report`` setting's n_critic replaced by
    ``report_n_critic`` when that is > 0. (The report's code changed only the losses, the
    clipping and the optimisers of its GAN loop, which alternates one critic and one generator
    update; ``gan_losses`` gives that setting the paper's n_critic = 5.)"""
    objective, overrides = wgan_setting(setting)
    if setting == "report" and report_n_critic > 0:
        objective = replace(objective, n_critic=report_n_critic)
    return objective, overrides


def build_networks(seed: int) -> tuple[gan_nets.Generator, gan_nets.Discriminator]:
    """The GAN notebook's Generator and its Discriminator as a critic (no BatchNorm, no
    sigmoid), from the same initial weights for a given seed."""
    torch.manual_seed(seed)
    return gan_nets.Generator(), gan_nets.Discriminator(norm="none", output="logit")


def train_setting(setting: str, images: torch.Tensor, params, evaluator: Evaluator, out_dir: Path,
                  name: str = "wgan", log=print, batch: BatchContext = BatchContext()) -> gan_study.GanResult:
    """Train the named WGAN setting with the notebook's shared GAN parameters (``params``:
    epochs, batch_size, seed, grid_every, eval_every, inception_during_training and, optionally,
    eval_every_through, report_n_critic and claim_lengths); ``gan_study.train_variant`` does the rest (checkpoints,
    models ``<name>_generator.pt`` and ``<name>_critic.pt``, the final evaluation). Every
    setting starts from the same initial weights, so settings differ only by their objective
    and optimiser. ``batch``: the notebook's ``run.batch`` (``gan_study.train_variant``)."""
    objective, overrides = objective_for(setting, getattr(params, "report_n_critic", 0))
    config = gan_study.gan_config(params, **overrides)
    generator, critic = build_networks(params.seed)
    lengths = getattr(params, "claim_lengths", [])
    inception_epochs = gan_compare.inception_epochs(params.inception_during_training, config.epochs, lengths)
    return gan_study.train_variant(name, objective, generator, critic, images, config, evaluator, out_dir,
                                   inception_epochs=inception_epochs, log=log, batch=batch, claim_lengths=lengths)


def initial_critic(seed: int, clip: float) -> nn.Module:
    """The critic as it stood after the first clip of its initial weights (for the weight figure)."""
    return clipped_copy(build_networks(seed)[1], clip)


def settings_table(settings, report_n_critic: int = 0) -> pd.DataFrame:
    """The named WGAN settings side by side (objective and optimiser values, as trained)."""
    columns = {}
    for setting in settings:
        objective, overrides = objective_for(setting, report_n_critic)
        paper_schedule = objective.schedule == "paper"
        columns[setting] = {
            "optimiser": overrides["optimizer"], "lr critic": overrides["lr_discriminator"],
            "lr generator": overrides["lr_generator"], "batch size": overrides.get("batch_size", "the batch_size parameter"),
            "clip c": objective.clip, "n_critic": objective.n_critic,
            "critic steps, first 25 G steps": objective.BURST_CRITIC_STEPS if paper_schedule else objective.n_critic,
            "critic steps, every 500th G step": objective.BURST_CRITIC_STEPS if paper_schedule else objective.n_critic,
        }
    return pd.DataFrame(columns)


def run_summary(result: gan_study.GanResult, setting: str) -> dict:
    """What a trained setting adds to its record (``gan_study.record`` adds the generator steps): the
    setting, the critic steps taken, the clip box at the end, the two losses' ``loss_gap`` (and
    ``loss_gap_at`` each of the run's claim lengths)."""
    steps = result.history.steps
    stats = clip_statistics(result.discriminator, result.objective.clip)
    return {"setting": setting, "objective": result.objective.describe(),
            "optimizer": {"name": result.config.optimizer, "lr_generator": result.config.lr_generator,
                          "lr_critic": result.config.lr_discriminator},
            "critic_steps": int(steps["critic_steps"].sum()),
            "critic_share_at_clip_bounds": float(stats.loc["all", "share at bounds"]),
            "loss_gap": loss_gap(result.history),
            **({"loss_gap_at": {str(length): loss_gap(result.history, length) for length in result.claim_lengths}}
               if result.claim_lengths else {})}


def loss_gap(history: gan.GanHistory, last_epoch: int | None = None) -> dict:
    """How far apart the critic's and the generator's losses are, early and late (the report: "the
    two losses approach each other"): the mean of |L_C - L_G| over the first and over the last
    quarter of the generator steps, {"first_quarter", "last_quarter", "steps": steps per quarter}.

    Per generator step, L_C = mean f(G(z)) - mean f(x) is the critic's loss averaged over that step's
    critic updates and L_G = -mean f(G(z)) the generator's loss of that step, on the last critic
    update's fakes scored by the updated critic (``GanHistory.steps``' loss_d and loss_g). A quarter
    is the first or last floor(steps / 4) steps; steps whose losses are not finite (a diverged run's
    last) are left out. None for both with fewer than four steps. ``last_epoch``: as if the run
    had ended after that epoch (the length study's ``loss_gap_at``)."""
    steps = history.steps
    if last_epoch is not None:
        steps = steps[steps["epoch"] <= last_epoch]
    gap = (steps["loss_d"] - steps["loss_g"]).abs().to_numpy()
    quarter = len(gap) // 4
    if quarter == 0:
        return {"first_quarter": None, "last_quarter": None, "steps": 0}

    def mean(values):
        finite = values[np.isfinite(values)]
        return float(finite.mean()) if len(finite) else None

    return {"first_quarter": mean(gap[:quarter]), "last_quarter": mean(gap[-quarter:]), "steps": quarter}


# ----------------------------------------------------------------------------- the estimate

def wasserstein_estimate(history: gan.GanHistory) -> pd.Series:
    """-L_C per generator step (mean over that step's critic updates), indexed by step."""
    steps = history.steps
    return pd.Series(-steps["loss_d"].to_numpy(), index=steps["step"].to_numpy(), name="wasserstein_estimate")


def estimate_vs_fid(history: gan.GanHistory) -> tuple[pd.DataFrame, float | None]:
    """Per evaluated epoch: the epoch's mean Wasserstein estimate and the classifier FID, and
    their Spearman rank correlation (None with fewer than three evaluations)."""
    epochs = history.epochs
    if epochs.empty:
        return pd.DataFrame(columns=["epoch", "wasserstein_estimate", "classifier_fid"]), None
    table = pd.DataFrame({"epoch": epochs["epoch"], "wasserstein_estimate": -epochs["loss_d"]})
    evaluations = history.evaluations
    if "classifier_fid" not in evaluations:
        return table.assign(classifier_fid=np.nan).iloc[:0], None
    table = table.merge(evaluations[["epoch", "classifier_fid"]], on="epoch", how="inner")
    if len(table) < 3:
        return table, None
    return table, float(table["wasserstein_estimate"].corr(table["classifier_fid"], method="spearman"))


def plot_estimate(history: gan.GanHistory, title: str = "WGAN"):
    """Three panels: the Wasserstein estimate per generator step; the gradient norms of critic
    and generator; the estimate against the classifier FID at the evaluated epochs."""
    steps = history.steps
    window = max(1, len(steps) // 50)
    estimate = wasserstein_estimate(history)
    fig, axes = plt.subplots(1, 3, figsize=(17, 4.2))
    ax = axes[0]
    ax.plot(estimate.index, estimate.values, color="C0", alpha=0.25, linewidth=0.8, label="per step")
    ax.plot(estimate.index, plots.smooth(estimate.values, window), color="C0", label=f"mean of {window} steps")
    burst = gan_losses.WassersteinGAN.BURST_CRITIC_STEPS
    bursts = steps.loc[steps["critic_steps"] >= burst, "step"]
    if len(bursts):  # the paper's schedule: mark the generator steps that got 100 critic steps
        ax.scatter(bursts, estimate.loc[bursts.to_numpy()], s=8, color="C3", zorder=3, label=f"{burst} critic steps")
    if len(estimate) >= 20:  # a few early spikes would flatten the rest: show the central 98% of steps
        low, high = np.nanquantile(estimate.to_numpy(), [0.01, 0.99])
        margin = 0.1 * (high - low) or abs(high) or 1.0
        ax.set_ylim(low - margin, high + margin)
    ax.axhline(0, color="0.4", linewidth=0.8)
    ax.set(xlabel="generator step", ylabel="mean f(x) - mean f(G(z))", title=f"{title}: Wasserstein estimate")
    ax.legend()
    plots.curves(axes[1], {"critic": steps["grad_norm_d"], "generator": steps["grad_norm_g"]},
                 xlabel="generator step", ylabel="gradient norm (L2, all parameters)", window=window, logy=True,
                 title="gradient norms (smoothed)")
    table, rho = estimate_vs_fid(history)
    ax = axes[2]
    if table.empty:
        ax.text(0.5, 0.5, "no classifier-FID evaluations", ha="center", va="center", transform=ax.transAxes)
    else:
        ax.plot(table["epoch"], table["wasserstein_estimate"], marker="o", color="C0")
        ax.set_ylabel("Wasserstein estimate (epoch mean)", color="C0")
        twin = ax.twinx()
        twin.plot(table["epoch"], table["classifier_fid"], marker="s", color="C1")
        twin.set_ylabel("classifier FID", color="C1")
        twin.grid(False)
    correlation = "n/a" if rho is None else f"{rho:+.2f}"
    ax.set(xlabel="epoch", title=f"estimate vs sample quality (Spearman {correlation})")
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------- the clip box

def clipped_copy(critic: nn.Module, clip: float) -> nn.Module:
    """A copy of ``critic`` with every parameter clipped to [-clip, clip] (what the first
    critic update's clipping does to freshly initialised weights)."""
    copied = copy.deepcopy(critic)
    gan_losses.WassersteinGAN(clip=clip).after_discriminator_step(copied)
    return copied


def clip_statistics(critic: nn.Module, clip: float, rtol: float = 1e-6) -> pd.DataFrame:
    """Per parameter tensor (and ``all``): how many values sit at -c and at +c (within a
    relative ``rtol``), their share, and mean/max |w| in units of c (max <= 1 inside the box)."""
    bound = clip * (1 - rtol)
    rows, totals = {}, np.zeros(4)
    for name, parameter in critic.named_parameters():
        values = parameter.detach().float().flatten().cpu()
        low, high = int((values <= -bound).sum()), int((values >= bound).sum())
        magnitude = values.abs()
        rows[name] = {"shape": "x".join(map(str, parameter.shape)), "count": values.numel(), "at -c": low,
                      "at +c": high, "share at bounds": (low + high) / values.numel(),
                      "mean |w| / c": float(magnitude.mean()) / clip, "max |w| / c": float(magnitude.max()) / clip}
        totals += [values.numel(), low, high, float(magnitude.sum())]
    if not rows:
        raise ValueError("the critic has no parameters")
    count, low, high, magnitude_sum = totals
    rows["all"] = {"shape": "", "count": int(count), "at -c": int(low), "at +c": int(high),
                   "share at bounds": (low + high) / count, "mean |w| / c": magnitude_sum / count / clip,
                   "max |w| / c": max(r["max |w| / c"] for r in rows.values())}
    return pd.DataFrame.from_dict(rows, orient="index")


def plot_weights(critic: nn.Module, clip: float, initial: nn.Module | None = None, bins: int = 81):
    """Histogram of every critic weight (log count) with the clip bounds, and the share of each
    tensor at the bounds, for the trained critic and (if given) the clipped initial one."""
    final = clip_statistics(critic, clip)
    values = torch.cat([p.detach().float().flatten().cpu() for p in critic.parameters()]).numpy()
    edges = np.linspace(-clip, clip, bins + 1)
    fig, axes = plt.subplots(1, 2, figsize=(15, 4.2), gridspec_kw={"width_ratios": [1.1, 1]})
    ax = axes[0]
    if initial is not None:
        start = torch.cat([p.detach().float().flatten().cpu() for p in initial.parameters()]).numpy()
        ax.hist(start, bins=edges, color="0.6", alpha=0.6, label="initial weights after the first clip")
    ax.hist(values, bins=edges, color="C0", alpha=0.8, label="trained critic")
    for x in (-clip, clip):
        ax.axvline(x, color="C3", linestyle="--", linewidth=1)
    ax.set_yscale("log")
    ax.set(xlabel="weight value", ylabel="count (log)",
           title=f"critic weights: {final.loc['all', 'share at bounds']:.1%} at ±c (c = {clip:g})")
    ax.legend(loc="upper center")
    ax = axes[1]
    shares = {"trained": final.drop(index="all")["share at bounds"]}
    if initial is not None:
        shares = {"after the first clip": clip_statistics(initial, clip).drop(index="all")["share at bounds"], **shares}
    pd.DataFrame(shares).plot.bar(ax=ax, rot=20, color=["0.6", "C0"][-len(shares):])
    ax.set(ylabel="share of values at ±c", ylim=(0, 1), title="share at the clip bounds per tensor")
    fig.tight_layout()
    return fig
