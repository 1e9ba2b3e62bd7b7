"""What only the SS-GAN study (notebook 05) needs on top of ``gan_study``: its networks and
runs (the SN-GAN baseline among them), the rotation-head diagnostics, the alpha ablation's table
and the failure-mode demo.

The objective itself is ``gan_losses.SelfSupervisedGAN`` (Chen et al. 2019); this module only
organises runs of it and reads out what the discriminator's rotation head learned.

    main = ssgan_study.train("ssgan", SelfSupervisedGAN(alpha=0.2), images, config, evaluator, run.out_dir)
    baseline = ssgan_study.train("sngan", NonSaturatingGAN(), images, config, evaluator, run.out_dir)
    table = ssgan_study.rotation_by_digit(main.discriminator, test_x, test_y)

Rotations follow ``gan_losses.rotate_quarters``: label k means ``torch.rot90(x, k, dims=(2, 3))``,
i.e. k * 90 degrees counter-clockwise.
"""
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from nbhelpers.environment import BatchContext
from nbhelpers.metrics import tables
from nbhelpers.metrics.evaluator import Evaluator
from nbhelpers.models import gan
from nbhelpers.models.gan import nets as gan_nets
from nbhelpers.models.gan.losses import NonSaturatingGAN, SelfSupervisedGAN, rotate_quarters
from nbhelpers.report import plots, records
from nbhelpers.studies import gan_compare, gan_study

ANGLES = (0, 90, 180, 270)


# ----------------------------------------------------------------------------- runs

def build_networks(seed: int, norm: str = "spectral", g_channels=(64, 32), d_channels: int = 32,
                   rotation_head: bool = True) -> tuple[gan_nets.Generator, gan_nets.Discriminator]:
    """The GAN notebook's generator and discriminator trunk (same sizes: pass 03's
    ``g_channels`` and ``d_channels``), D with logit output and (``rotation_head``) a rotation
    head; the same initial weights for a given seed. The head is built last, so without it
    every other initial weight (spectral norm's starting vectors included) is the same."""
    torch.manual_seed(seed)
    return (gan_nets.Generator(channels=tuple(g_channels)),
            gan_nets.Discriminator(first_channels=d_channels, norm=norm, output="logit", rotation_head=rotation_head))


def alpha_name(alpha: float) -> str:
    """Model name of one ablation setting: 0 -> "ssgan_alpha0", 0.2 -> "ssgan_alpha0.2"."""
    return f"ssgan_alpha{alpha:g}"


class MixedBatchSSGAN(SelfSupervisedGAN):
    """The BatchNorm bug, for the failure-mode demo only: D's trunk sees real, fake and rotated
    real images as ONE batch, so BatchNorm normalises them with statistics of the mixture,
    while G's update runs fakes through D on their own (other statistics). The engine's own
    SS-GAN keeps batches apart under BatchNorm (``trunk_features``); this class undoes that."""

    name = "ssgan_mixed_batchnorm"

    def discriminator_loss(self, discriminator, real, fake):
        rotated_real, labels = rotate_quarters(real)
        everything = discriminator.features(torch.cat([real, fake, rotated_real]))
        real_features, fake_features, rotated_features = everything.split([len(real), len(fake), len(rotated_real)])
        gan_loss, stats = self.gan_discriminator_loss(discriminator, real_features, fake_features)
        rotation_loss, accuracy = self._rotation_terms(discriminator, rotated_features, labels)
        stats.update(rotation_loss_real=rotation_loss.detach(), rotation_accuracy_real=accuracy)
        return gan_loss + self.beta * rotation_loss, stats



def is_self_supervised(objective) -> bool:
    return isinstance(objective, SelfSupervisedGAN)


def train(name: str, objective: NonSaturatingGAN, images: torch.Tensor, config: gan.GanConfig,
          evaluator: Evaluator, out_dir: Path, norm: str = "spectral", g_channels=(64, 32), d_channels: int = 32,
          train_limit: int = 0, **options) -> gan_study.GanResult:
    """Train one SS-GAN variant (``gan_study.train_variant``) from ``build_networks(config.seed,
    norm, ...)`` on the first ``train_limit`` images (0: all); ``options`` go to ``train_variant``
    (curve evaluator, Inception epochs, final evaluation, saving).

    A plain ``NonSaturatingGAN`` objective trains the SN-GAN baseline: the same networks and
    initial weights without the rotation head (rotation weights 0)."""
    generator, discriminator = build_networks(config.seed, norm, g_channels, d_channels,
                                              rotation_head=is_self_supervised(objective))
    images = images[:train_limit] if train_limit else images
    return gan_study.train_variant(name, objective, generator, discriminator, images, config, evaluator, out_dir,
                                   **options)


def record_fields(result: gan_study.GanResult) -> dict:
    """What an SS-GAN run (or the SN-GAN baseline: rotation weights 0) adds to
    ``gan_study.record``: its settings and length."""
    objective = result.objective
    rotation = is_self_supervised(objective)
    return {"alpha": objective.alpha if rotation else 0.0, "beta": objective.beta if rotation else 0.0,
            "score_rotated": objective.score_rotated if rotation else False, "objective": objective.describe(),
            "d_norm": result.discriminator.norm, "rotation_head": result.discriminator.rotation_head is not None,
            "epochs": result.config.epochs, "train_images": result.train_images,
            "final_rotation_accuracy": final_rotation_accuracy(result.history)}


def final_rotation_accuracy(history: gan.GanHistory) -> dict:
    """Mean rotation accuracy of D over the last epoch, on rotated reals and on rotated fakes
    (None without a rotation task)."""
    steps = history.steps
    if steps.empty or "rotation_accuracy_real" not in steps:
        return {"real": None, "fake": None}
    last = steps[steps["epoch"] == steps["epoch"].max()]
    return {"real": float(last["rotation_accuracy_real"].mean()), "fake": float(last["rotation_accuracy_fake"].mean())}


# ----------------------------------------------------------------------------- rotation head

def all_rotations(images: torch.Tensor) -> torch.Tensor:
    """[N, 1, H, W] -> [N, 4, 1, H, W]: each image turned by 0, 90, 180 and 270 degrees."""
    return torch.stack([torch.rot90(images, k, dims=(2, 3)) for k in range(len(ANGLES))], dim=1)


@torch.no_grad()
def rotation_predictions(discriminator, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """The rotation head's guess for every image in every orientation: long [N, 4], entry
    [i, k] is the predicted label of image i turned by k * 90 degrees. ``images`` in [0, 1];
    D runs in eval mode (no spectral-norm power iteration, BatchNorm running statistics)."""
    was_training = discriminator.training
    discriminator.eval()
    device = next(discriminator.parameters()).device
    try:
        out = []
        for batch in images.split(batch_size):
            turned = all_rotations(batch.to(device).float() * 2 - 1)   # D reads [-1, 1]
            logits = discriminator.rotation_logits(discriminator.features(turned.flatten(0, 1)))
            out.append(logits.argmax(1).view(len(batch), len(ANGLES)).cpu())
    finally:
        discriminator.train(was_training)
    return torch.cat(out)


def rotation_by_digit(discriminator, images: torch.Tensor, digits: torch.Tensor) -> pd.DataFrame:
    """Accuracy of D's rotation head per digit (rows 0-9) and true angle, from ``images`` in
    [0, 1] labelled ``digits`` (true labels for test images, the classifier's for samples).

    Columns: accuracy at 0/90/180/270 degrees, their mean, "off by 180" (the share of guesses
    exactly half a turn wrong: the signature of 0, 1, 8 and of 6 <-> 9), "off by 90" and n.
    """
    predicted = rotation_predictions(discriminator, images)
    truth = torch.arange(len(ANGLES)).expand_as(predicted)
    digits = torch.as_tensor(digits).reshape(-1).cpu()
    rows = {}
    for digit in range(10):
        mask = digits == digit
        if not mask.any():
            continue
        p, t = predicted[mask], truth[mask]
        correct = (p == t).float()
        row = {f"{angle}°": correct[:, k].mean().item() for k, angle in enumerate(ANGLES)}
        row["mean"] = correct.mean().item()
        row["off by 180°"] = (p == (t + 2) % 4).float().mean().item()
        row["off by 90°"] = ((p - t) % 2 == 1).float().mean().item()
        row["n"] = int(mask.sum())
        rows[digit] = row
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "digit"
    return table


def plot_rotation_training(ax, history: gan.GanHistory, title: str = "rotation accuracy of D", window: int | None = None):
    """Rotation-head accuracy per generator step on rotated reals and rotated fakes (smoothed)."""
    steps = history.steps
    window = window or max(1, len(steps) // 50)
    plots.curves(ax, {"rotated real images": steps["rotation_accuracy_real"],
                      "rotated generated images": steps["rotation_accuracy_fake"]},
                 xlabel="generator step", ylabel="accuracy (4 classes)", title=title, window=window)
    ax.axhline(0.25, color="0.4", linestyle=":", linewidth=1, label="chance")
    ax.set_ylim(0, 1.02)
    ax.legend(loc="lower right")
    return ax


def plot_rotation_by_digit(ax, table: pd.DataFrame, title: str = ""):
    """Heat map of per-digit, per-angle accuracy, with the mean and the half-turn errors."""
    columns = [f"{a}°" for a in ANGLES] + ["mean", "off by 180°"]
    values = table[columns].to_numpy()
    ax.imshow(values, cmap="viridis", vmin=0, vmax=1, aspect="auto")
    for (r, c), value in np.ndenumerate(values):
        ax.text(c, r, f"{value:.2f}", ha="center", va="center", fontsize=8, color="white" if value < 0.6 else "black")
    ax.set_xticks(range(len(columns)), columns)
    ax.set_yticks(range(len(table)), [str(d) for d in table.index])
    ax.set(ylabel="digit", title=title)
    ax.grid(False)
    return ax


# ----------------------------------------------------------------------------- ablation and demo

def results_table(results: dict[str, gan_study.GanResult]) -> pd.DataFrame:
    """``tables.fid_table`` of finished runs (Inception FID with N, classifier FID, KID,
    digits covered), plus the largest digit share and what each run trained on."""
    finished = {label: r for label, r in results.items() if r.final}
    table = tables.fid_table({label: r.final for label, r in finished.items()})
    table["largest digit share"] = [records.largest_share(r.final) for r in finished.values()]
    table["training"] = [f"{r.config.epochs} epochs x {r.train_images} images" for r in finished.values()]
    return table


def digit_shares(results: dict[str, gan_study.GanResult]) -> pd.DataFrame:
    """Share of each predicted digit (columns 0-9) in every finished run's final samples."""
    return gan_compare.final_shares({label: r.final for label, r in results.items() if r.final})


def generator_view(history: gan.GanHistory, alpha: float) -> pd.Series:
    """exp(-G's GAN loss) per step: the (geometric) mean sigmoid(D) on the fakes as D scores
    them in G's update, to set beside ``d_fake``, the same quantity in D's update. The two
    differ when D's output for an image depends on its batch (BatchNorm over mixed batches)."""
    steps = history.steps
    return np.exp(-(steps["loss_g"] - alpha * steps["rotation_loss_fake"]))


def plot_demo(results: dict[str, gan_study.GanResult]):
    """The failure-mode runs side by side: classifier FID per epoch; D's outputs on real and
    generated images in D's update; the fakes' score in G's update; rotation accuracies."""
    fig, axes = plt.subplots(1, 4, figsize=(21, 4.4))
    rows = []
    for i, (label, result) in enumerate(results.items()):
        rows = sorted((r for r in result.fid_rows() if r["features"] == "classifier"), key=lambda r: r["epoch"])
        axes[0].plot([r["epoch"] for r in rows], [r["value"] for r in rows], marker="o", color=f"C{i}", label=label)
        steps = result.history.steps
        window = max(1, len(steps) // 30)
        line = lambda ax, values, style, text: ax.plot(steps["step"], plots.smooth(values, window), color=f"C{i}",  # noqa: E731
                                                       linestyle=style, label=f"{label}: {text}")
        line(axes[1], steps["d_real"], "-", "D(x)")
        line(axes[1], steps["d_fake"], "--", "D(G(z))")
        line(axes[2], steps["d_fake"], "--", "in D's update")
        line(axes[2], generator_view(result.history, result.objective.alpha), ":", "in G's update")
        line(axes[3], steps["rotation_accuracy_real"], "-", "real")
        line(axes[3], steps["rotation_accuracy_fake"], "--", "generated")
    n, ref = (rows[0]["n"], rows[0]["ref"]) if rows else ("?", "?")
    axes[0].set(xlabel="epoch", ylabel=f"classifier FID (N={n}, vs {ref})", title="classifier FID")
    axes[1].set(xlabel="generator step", ylabel="mean sigmoid(D), upright images", title="D(x) solid, D(G(z)) dashed")
    axes[2].set(xlabel="generator step", ylabel="sigmoid(D) on generated images",
                title="fakes scored in D's vs in G's update")
    axes[3].set(xlabel="generator step", ylabel="rotation accuracy", ylim=(0, 1.02),
                title="rotation head: real solid, generated dashed")
    for ax in axes:
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def upright_share(discriminator, images: torch.Tensor) -> float:
    """Share of ``images`` (as given, not turned) that D's rotation head calls upright (0 degrees):
    near the real digits' rate when samples stand upright, lower when G draws turned digits."""
    return float((rotation_predictions(discriminator, images)[:, 0] == 0).float().mean())


def failure_verdicts(table: pd.DataFrame, correct: str, fid_column: str, damage_ratio: float = 1.25) -> list[str]:
    """One line per broken run of the failure demo (rows of ``table`` other than ``correct``):
    its final classifier FID against the correct run's and its digits covered, called
    "damaging" when the FID is more than ``damage_ratio`` times the correct run's or digits
    are lost; then which run did the most damage, or that none did at this length."""
    reference = table.loc[correct]
    lines, worst = [], None
    for label, row in table.drop(index=correct).iterrows():
        ratio = row[fid_column] / reference[fid_column]
        lost = int(reference["digits covered"] - row["digits covered"])
        damaging = ratio > damage_ratio or lost > 0
        lines.append(f"{label}: classifier FID {row[fid_column]:.2f} = x{ratio:.2f} the correct run's, "
                     f"{int(row['digits covered'])}/10 digits -> {'damaging' if damaging else 'no clear damage at this length'}")
        if damaging and (worst is None or ratio > worst[1]):
            worst = (label, ratio)
    lines.append(f"most damaging here: {worst[0]}" if worst else "no failure mode did clear damage at this length")
    return lines


# ----------------------------------------------------------------------------- short runs: the ablation and the demo

@dataclass
class ShortRuns:
    """The ablation's and the failure demo's runs: the main run's settings shortened
    (``config``), on the first ``train_limit`` images (0: all), with the curves measured by
    ``curve_evaluator`` (fewer samples) and the final evaluation by ``evaluator``."""

    images: torch.Tensor
    config: gan.GanConfig
    evaluator: Evaluator
    curve_evaluator: Evaluator
    out_dir: Path
    batch: BatchContext
    sizes: dict                  # the networks' sizes (``g_channels``, ``d_channels``), 03's
    train_limit: int = 0

    @property
    def images_used(self) -> int:
        return min(self.train_limit or len(self.images), len(self.images))

    def describe(self, main: gan.GanConfig) -> str:
        steps = self.config.epochs * (self.images_used // self.config.batch_size)
        return (f"short runs: {self.config.epochs} epochs x {self.images_used} images ({steps} generator steps; "
                f"the main run had {main.epochs * (len(self.images) // main.batch_size)})")

    def train(self, name: str, objective: NonSaturatingGAN, norm: str = "spectral",
              final: bool = True) -> gan_study.GanResult:
        """One short run; without ``final`` neither evaluated at the end nor saved."""
        return train(name, objective, self.images, self.config, self.evaluator, self.out_dir, batch=self.batch,
                     norm=norm, **self.sizes, train_limit=self.train_limit, final=final, save_models=final,
                     curve_evaluator=self.curve_evaluator)


def plot_demo_samples(runs: dict[str, gan_study.GanResult]):
    """The last generator of every demo run on the same 100 evaluation noise vectors."""
    return plots.show_grids({f"{label}, epoch {r.history.last_epoch}": gan.sample_images(
        r.generator, 100, seed=gan_study.EVAL_SEED) for label, r in runs.items()}, size=5)


def curve_fid_column(n: int) -> str:
    return f"classifier FID (N={n})"


def demo_table(runs: dict[str, gan_study.GanResult], main_discriminator, curve_evaluator: Evaluator) -> pd.DataFrame:
    """One row per demo run, from ``curve_evaluator``'s classifier sample count of its last
    generator: the last training-time classifier FID, the share the main run's rotation head
    calls upright, digits covered, precision/recall and coverage, and the rotation accuracies
    of its last epoch."""
    n, rows = curve_evaluator.n["classifier"], []
    for label, r in runs.items():
        many = gan.sample_images(r.generator, n, seed=gan_study.EVAL_SEED)
        covered = curve_evaluator.class_coverage(many)
        spread = curve_evaluator.fidelity_diversity(many)
        rows.append({"run": label, "status": r.history.status,
                     curve_fid_column(n): gan_study.last_epoch_fid(r.fid_rows()),
                     "called upright by the main D": upright_share(main_discriminator, many),
                     "digits covered": covered["covered"],
                     "precision (k=3)": spread["precision_recall"]["precision"],
                     "recall (k=3)": spread["precision_recall"]["recall"],
                     "coverage (k=5)": spread["density_coverage"]["coverage"],
                     "rotation acc. real (last epoch)": final_rotation_accuracy(r.history)["real"],
                     "rotation acc. generated (last epoch)": final_rotation_accuracy(r.history)["fake"]})
    return pd.DataFrame(rows).set_index("run")


def demo_record(short: ShortRuns, upright_test: float, verdicts: list[str], table: pd.DataFrame,
                runs: dict[str, gan_study.GanResult]) -> dict:
    """``failure_demo`` of the metrics record."""
    return {"settings": f"{short.config.epochs} epochs x {short.images_used} images", "upright_share_test": upright_test,
            "verdicts": verdicts, "runs": table.reset_index().to_dict(orient="records"),
            "fid": {label: r.fid_rows() for label, r in runs.items()}}


def plot_share_shift(ax, shares: pd.DataFrame, orientability: pd.DataFrame) -> float:
    """Each digit's share change from the first to the last ablation setting (rows of
    ``digit_shares``) against how well the main D orients it (``rotation_by_digit``'s "mean");
    returns their correlation."""
    shift = shares.iloc[-1] - shares.iloc[0]
    accuracy = orientability.loc[shift.index, "mean"]
    ax.scatter(accuracy, shift.values, c=range(10), cmap="tab10", s=60)
    for d in shift.index:
        ax.annotate(str(d), (accuracy[d], shift[d]), xytext=(5, 3), textcoords="offset points")
    ax.axhline(0, color="0.4", linewidth=1)
    ax.set(xlabel="rotation accuracy of the main D on test digits", ylabel=f"share({shares.index[-1]}) - share({shares.index[0]})",
           title="does a large alpha favour easy-to-orient digits?")
    return np.corrcoef(accuracy, shift.values)[0, 1]


def findings(main: gan_study.GanResult, sngan: gan_study.GanResult | None, sngan_expected: bool,
             gan_entry: dict | None, gan_note: str) -> list[str]:
    """This run's numbers in lines: the main run, its classifier FID's fall, final metrics and
    rotation accuracies, the gap to the SN-GAN baseline and the ratio to the GAN's FID."""
    objective, history = main.objective, main.history
    lines = [f"main run: {main.config.epochs} epochs x {main.train_images} images, alpha {objective.alpha:g}, "
             f"beta {objective.beta:g}, {history.training_seconds:.0f} s of training; status {history.status}"]
    fall = gan_study.first_and_last_fid(main.fid_rows())
    if fall["ratio"] is not None:
        lines.append(f"classifier FID {fall['first']:.2f} (epoch {main.fid_rows()[0]['epoch']}) -> {fall['last']:.2f} "
                     f"(x{fall['ratio']:.3f})")
    if main.final:
        lines += [f"final {row['features']} FID {row['value']:.2f} (N={row['n']}, vs {row['ref']})" for row in main.final["fid"]]
        kid = main.final["kid"]
        lines += [f"final KID ({kid['features']}) {kid['mean']:.4f} +- {kid['std']:.4f}; digits covered "
                  f"{main.final['class_coverage']['covered']}/10, largest share {records.largest_share(main.final):.1%}",
                  "final fidelity and diversity: " + tables.fidelity_line(main.final)]
    accuracy = final_rotation_accuracy(history)
    lines.append(f"rotation accuracy, last epoch: real {accuracy['real']:.3f}, generated {accuracy['fake']:.3f}")
    if sngan and sngan.final and main.final:
        kid_gap = main.final["kid"]["mean"] - sngan.final["kid"]["mean"]
        clf_gap = records.final_value(main.final, "classifier") - records.final_value(sngan.final, "classifier")
        lines.append(f"SN-GAN baseline: final {sngan.final['kid']['features']} KID {sngan.final['kid']['mean']:.4f}, "
                     f"classifier FID {records.final_value(sngan.final, 'classifier'):.2f}; SS-GAN minus SN-GAN (the "
                     f"rotation loss on this seed): KID {kid_gap:+.4f}, classifier FID {clf_gap:+.2f} (negative: the "
                     f"rotation loss helped)")
    elif sngan_expected:
        lines.append("SN-GAN baseline: no final evaluation (a run did not finish)")
    if not gan_entry:
        return lines + [gan_note]
    ours, theirs = gan_study.last_epoch_fid(main.fid_rows()), gan_study.last_epoch_fid(records.fid_rows(gan_entry))
    return lines + [f"GAN (03) final classifier FID {theirs:.2f}; SS-GAN/GAN = {ours / theirs:.3f}"]
