"""What only the WGAN notebook (04_wgan) needs on top of ``gan_report``: training one named
WGAN setting, the Wasserstein estimate, critic weights against the clip box, and the
side-by-side comparison with the GAN notebook's run.

    runs = {s: wgan_report.train_setting(s, images, P, evaluator, run.out_dir) for s in settings}
    wgan_report.plot_estimate(runs["report"].history)
    wgan_report.clip_statistics(runs["report"].critic, runs["report"].objective.clip)
    gan_entry, note = wgan_report.load_gan_reference(run.profile)
    wgan_report.comparison_table({"GAN": gan_entry, "WGAN": record}, threshold=P.fid_threshold)

The Wasserstein estimate. The critic minimises L_C = mean f(G(z)) - mean f(x), so
-L_C = mean f(x) - mean f(G(z)) is the dual objective of the Kantorovich-Rubinstein formula
W(P_r, P_g) = sup_{||f||_L <= 1} E_r[f] - E_g[f] evaluated at the current critic: an estimate
of K * W (K the Lipschitz constant that clipping allows), a lower bound while f is not optimal.
"""
import copy
import math
from dataclasses import dataclass, replace
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from torch import nn

from . import fid, gan, gan_losses, gan_nets, gan_report, plots
from .paths import reports_root

GAN_STEM, GAN_MODEL = gan_report.GAN_STEM, gan_report.GAN_MODEL
SHARED_PARAMS = ("epochs", "batch_size", "train_limit", "eval_every", "seed", "ema_decay")  # must match for a fair overlay


# ----------------------------------------------------------------------------- training

@dataclass
class WganRun:
    """One trained setting: its objective and config, the networks, the history, and the
    critic as it stood after the first clip of its initial weights (for the weight figure)."""

    setting: str
    name: str
    objective: gan_losses.WassersteinGAN
    config: gan.GanConfig
    generator: gan_nets.Generator
    critic: gan_nets.Discriminator
    initial_critic: gan_nets.Discriminator
    history: gan.GanHistory


def settings_to_run(main: str, others=()) -> list[str]:
    """The main setting then the others, without repeats; an unknown name is an error now,
    before any work (``gan_losses.wgan_setting`` names the valid ones)."""
    ordered = list(dict.fromkeys([main, *others]))
    for setting in ordered:
        gan_losses.wgan_setting(setting)
    return ordered


def model_name(setting: str, main: str) -> str:
    """``wgan`` for the notebook's main setting, ``wgan_<setting>`` for the others."""
    return "wgan" if setting == main else f"wgan_{setting}"


def objective_for(setting: str, report_n_critic: int = 0) -> tuple[gan_losses.WassersteinGAN, dict]:
    """``gan_losses.wgan_setting(setting)``, with the ``report`` setting's n_critic replaced by
    ``report_n_critic`` when that is > 0. (The report's code changed only the losses, the
    clipping and the optimisers of its GAN loop, which alternates one critic and one generator
    update; ``gan_losses`` gives that setting the paper's n_critic = 5.)"""
    objective, overrides = gan_losses.wgan_setting(setting)
    if setting == "report" and report_n_critic > 0:
        objective = replace(objective, n_critic=report_n_critic)
    return objective, overrides


def train_setting(setting: str, images: torch.Tensor, params, evaluator: fid.Evaluator, out_dir: Path,
                  name: str = "wgan", log=print) -> WganRun:
    """Train the GAN notebook's Generator against a critic (its Discriminator without BatchNorm
    or sigmoid) with the named WGAN setting and the notebook's shared GAN parameters
    (``params``: epochs, batch_size, seed, grid_every, eval_every, inception_at_quarters and,
    optionally, report_n_critic and ema_decay). With ``ema_decay`` the run's generator is the
    weight average, and the last iterate is evaluated beside it.

    Every setting starts from the same initial weights (seeded by ``params.seed``), so settings
    differ only by their objective and optimiser. Checkpoints go to ``out_dir/checkpoints``,
    the final state_dicts to ``out_dir/models`` (``<name>_generator.pt``, ``<name>_critic.pt``).
    """
    objective, overrides = objective_for(setting, getattr(params, "report_n_critic", 0))
    config = gan.GanConfig(epochs=params.epochs, batch_size=params.batch_size, seed=params.seed,
                           grid_every=params.grid_every, eval_every=params.eval_every,
                           ema_decay=getattr(params, "ema_decay", 0.0)).with_overrides(**overrides)
    torch.manual_seed(params.seed)
    generator = gan_nets.Generator()
    critic = gan_nets.Discriminator(norm="none", output="logit")
    initial_critic = clipped_copy(critic, objective.clip)
    inception_epochs = gan.quarter_epochs(config.epochs) if params.inception_at_quarters else ()
    history = gan.train(generator, critic, objective, images, config, name=name,
                        evaluate=gan_report.training_evaluator(evaluator, inception_epochs=inception_epochs),
                        evaluate_last_iterate=True, checkpoint_dir=Path(out_dir) / "checkpoints",
                        models_dir=Path(out_dir) / "models", log=log)
    return WganRun(setting, name, objective, config, history.final_generator, critic, initial_critic, history)


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


def run_summary(run: WganRun) -> dict:
    """Counts worth recording next to the metrics: steps taken and the clip box at the end."""
    steps = run.history.steps
    stats = clip_statistics(run.critic, run.objective.clip)
    return {"setting": run.setting, "objective": run.objective.describe(),
            "optimizer": {"name": run.config.optimizer, "lr_generator": run.config.lr_generator,
                          "lr_critic": run.config.lr_discriminator, "ema_decay": run.config.ema_decay},
            "generator_steps": int(len(steps)), "critic_steps": int(steps["critic_steps"].sum()),
            "critic_share_at_clip_bounds": float(stats.loc["all", "share at bounds"])}


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


# ----------------------------------------------------------------------------- the GAN's run

def load_gan_reference(profile: str, params: dict | None = None) -> tuple[dict | None, str]:
    """The GAN notebook's (``03_gan_pixelshuffle``) record of model ``gan`` in the same profile,
    and a sentence saying where it came from, or why there is none. ``params`` (this run's)
    are compared with the GAN run's shared GAN parameters: a difference is named in the note."""
    path = reports_root() / profile / f"{GAN_STEM}.metrics.json"
    content = gan_report.load_notebook_metrics(profile, GAN_STEM)
    if content is None:
        why = "has not run" if not path.exists() else "did not finish (status is not ok)"
        return None, (f"The GAN notebook {GAN_STEM} {why} for profile '{profile}' ({path}), so the GAN columns "
                      f"and curves are missing. The batch runs {GAN_STEM} before 04_wgan; run "
                      f"`python -m nbhelpers.pipeline --profile {profile} --only {GAN_STEM}` and re-run this notebook.")
    entry = content.get("models", {}).get(GAN_MODEL)
    if not entry or not any("epoch" in row for row in entry.get("fid", [])):
        return None, f"{path} holds no model '{GAN_MODEL}' with an FID history: nothing to compare with."
    note = f"GAN reference: model '{GAN_MODEL}' of {path}"
    if params:
        theirs = content.get("params", {})
        differ = [f"{k} {theirs.get(k)!r} there, {params.get(k)!r} here" for k in SHARED_PARAMS
                  if k in params and theirs.get(k) != params.get(k)]
        note += (" (shared GAN parameters differ: " + "; ".join(differ) + ", so the comparison is not like for like)"
                 if differ else " (same shared GAN parameters)")
    return entry, note + "."


def load_gan_samples(profile: str, count: int = 100) -> torch.Tensor | None:
    """The first ``count`` exported GAN samples ([N, 1, 28, 28] in [0, 1]) from the GAN
    notebook's ``samples/gan*.npz``, or None when there are none."""
    folder = reports_root() / profile / GAN_STEM / "samples"
    candidates = sorted(folder.glob(f"{GAN_MODEL}*.npz"), key=lambda p: (p.stem != GAN_MODEL, p.name))
    if not candidates:
        return None
    with np.load(candidates[0]) as content:
        images = content["images"][:count]
    return torch.from_numpy(images).float().div(255).unsqueeze(1)


# ----------------------------------------------------------------------------- comparisons

def plot_fid_overlay(curves: dict, features: str = "classifier", title: str = ""):
    """FID against epoch for each run on one axis (``fid.fid_curves``), comparable runs only."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    kept, notes = gan_report.plot_fid_overlay(ax, curves, features, title)
    if kept:
        ax.set_yscale("log")
    fig.tight_layout()
    return fig, notes


def _coverage_shares(entry: dict) -> np.ndarray | None:
    coverage = (entry or {}).get("class_coverage")
    if not coverage:
        return None
    return np.asarray(coverage["counts"], dtype=float) / max(coverage["n"], 1)


def summary(entry: dict | None, threshold: float) -> dict:
    """One model's column of the final table, from its metrics record (``gan_report.record``)."""
    if not entry:
        return {}
    rows = entry.get("fid", [])
    final = {row["features"]: row for row in rows if "epoch" not in row}
    column = {}
    for features, title in (("inception", "Inception"), ("classifier", "classifier")):
        row = final.get(features)
        column[f"{title} FID"] = round(row["value"], 3) if row and row.get("value") is not None else None
        column[f"{title} N / reference"] = (f"{row['n']} vs {row['ref']}" + (" (biased)" if row.get("biased") else "")
                                            if row else None)
    kid = entry.get("kid")
    column["KID x 1000 (mean ± std)"] = (f"{1000 * kid['mean']:.2f} ± {1000 * kid['std']:.2f} ({kid['features']})"
                                         if kid else None)
    shares = _coverage_shares(entry)
    coverage = entry.get("class_coverage") or {}
    column["digits covered (of 10)"] = coverage.get("covered")
    column["largest digit share"] = round(float(shares.max()), 3) if shares is not None else None
    def first_to_last(halving):
        return f"{halving['first']:.2f} → {halving['last']:.2f} (ratio {halving['ratio']:.2f})" if halving.get("ratio") else None

    column["classifier FID first → last evaluation"] = first_to_last(gan_report.fid_halving(rows))
    column["last iterate: classifier FID first → last"] = first_to_last(entry.get("fid_halving_last_iterate") or {})
    reached = gan_report.epochs_to_reach(rows, threshold)
    column[f"epochs to classifier FID ≤ {threshold:g}"] = reached if reached is not None else "not reached"
    column["epochs trained"] = entry.get("epochs_trained")
    column["generator steps"] = entry.get("generator_steps")
    column["training seconds"] = entry.get("training_seconds")
    return column


def comparison_table(entries: dict, threshold: float) -> pd.DataFrame:
    """Models side by side (columns) from their metrics records; a missing record (None) gives
    a column that says so."""
    columns = {name: summary(entry, threshold) for name, entry in entries.items()}
    index = next((list(c) for c in columns.values() if c), None)
    if index is None:
        raise ValueError("no model has a metrics record")
    table = pd.DataFrame({name: {k: c.get(k, "not run" if not c else None) for k in index}
                          for name, c in columns.items()}, index=index)
    return table.astype(object).where(table.notna(), "—")


def plot_coverage_comparison(entries: dict, history: gan.GanHistory | None = None, main: str | None = None):
    """Class coverage of several models: final predicted-digit shares side by side; the main
    model's digit shares over training (stacked, if ``history``); the largest digit's share
    against epoch for every model that recorded a coverage history."""
    panels = 3 if history is not None else 2
    fig, axes = plt.subplots(1, panels, figsize=(6 * panels, 4.3))
    present = {name: _coverage_shares(entry) for name, entry in entries.items()}
    present = {name: shares for name, shares in present.items() if shares is not None}
    width = 0.8 / max(len(present), 1)
    for i, (name, shares) in enumerate(present.items()):
        axes[0].bar(np.arange(10) + (i - (len(present) - 1) / 2) * width, shares, width=width, label=name)
    axes[0].axhline(0.1, color="0.3", linestyle="--", linewidth=1, label="uniform (10%)")
    axes[0].axhline(0.2, color="C3", linestyle=":", linewidth=1, label="20% limit")
    axes[0].set_xticks(range(10))
    axes[0].set(xlabel="predicted digit", ylabel="share of final samples", title="final class coverage")
    axes[0].legend(fontsize=8)
    if history is not None:
        gan_report.plot_coverage_history(axes[1], history, title=f"{main or 'WGAN'}: digit shares over training")
    ax = axes[-1]
    for name, entry in entries.items():
        shares = (entry or {}).get("coverage_history") or {}
        if shares:
            epochs = sorted(shares, key=int)
            ax.plot([int(e) for e in epochs], [max(shares[e]) for e in epochs], marker="o", markersize=3, label=name)
    ax.axhline(0.1, color="0.3", linestyle="--", linewidth=1)
    ax.axhline(0.2, color="C3", linestyle=":", linewidth=1)
    ax.set(xlabel="epoch", ylabel="largest digit share", title="the most produced digit over training")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def verdict(entries: dict, threshold: float) -> str:
    """Plain sentences on who wins which metric (lower FID/KID is better), from the records."""
    present = {name: entry for name, entry in entries.items() if entry}
    if len(present) < 2:
        return "Only one model has a record: no comparison."
    lines = []

    def best(metric_of, label, lower=True):
        values = {name: metric_of(entry) for name, entry in present.items()}
        values = {name: v for name, v in values.items() if v is not None and not (isinstance(v, float) and math.isnan(v))}
        if len(values) < 2:
            return
        ranked = sorted(values.items(), key=lambda item: item[1] if lower else -item[1])
        listed = ", ".join(f"{name} {value:.4g}" for name, value in ranked)
        winners = [name for name, value in ranked if value == ranked[0][1]]
        best_text = f"{winners[0]} is best" if len(winners) == 1 else f"tie between {' and '.join(winners)}"
        lines.append(f"{label}: {best_text} ({listed}).")

    def final_fid(features):
        return lambda entry: next((r["value"] for r in entry.get("fid", []) if r["features"] == features
                                   and "epoch" not in r), None)

    best(final_fid("inception"), "Inception FID (lower is better)")
    best(final_fid("classifier"), "classifier FID (lower is better)")
    best(lambda e: (e.get("kid") or {}).get("mean"), "KID (lower is better)")
    best(lambda e: (e.get("fid_halving_last_iterate") or {}).get("last"),
         "last iterates' classifier FID at the last evaluation (lower is better)")
    best(lambda e: (lambda s: None if s is None else float(s.max()))(_coverage_shares(e)),
         "largest digit share (closer to 10% is better)")
    best(lambda e: gan_report.epochs_to_reach(e.get("fid", []), threshold),
         f"epochs to classifier FID ≤ {threshold:g} (fewer is better)")
    never = [name for name, e in present.items() if gan_report.epochs_to_reach(e.get("fid", []), threshold) is None]
    if never:
        lines.append(f"Never reached classifier FID ≤ {threshold:g}: {', '.join(never)}.")
    return "\n".join(lines)
