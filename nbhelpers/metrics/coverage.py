"""Which digits a set of generated samples holds, as the metric classifier sees them.

Class coverage is the simplest diversity measure on MNIST: a generator that collapses onto a
few modes draws a few digits. The thresholds below are the project's, named once:

- a digit is *covered* when it gets at least ``MIN_SHARE_OF_UNIFORM`` of a uniform share
  (10 % of N / 10 samples), so that a few stray predictions do not count as a mode;
- the GAN studies' acceptance check: no digit above ``MAX_DIGIT_SHARE`` of the samples;
- the per-digit table calls a digit over- or under-produced when its share is more than
  ``SHARE_TOLERANCE`` (relative) away from the uniform 10 %, i.e. above 12 % or below 8 %;
- a prediction is *confident* when the classifier's softmax gives its digit at least
  ``CONFIDENT_PROBABILITY``. The classifier names a digit for every sample, a blurry or
  half-formed one included: there its largest probability is low and the digit is its least bad
  guess, so counting every prediction lets the classifier's confusion count as over-production of
  whichever digits such samples resemble (the report's suspects are 3 and 8). The confident counts
  leave those guesses out. 0.9 is the level at which 03's per-digit table already calls the
  classifier sure (``confidence_by_digit``); on real test digits nearly every prediction passes it
  (``test_coverage`` checks that most do), so it removes guesses, not digits.
"""
import math

import numpy as np
import pandas as pd
import torch

NUM_DIGITS = 10
UNIFORM_SHARE = 1 / NUM_DIGITS
MIN_SHARE_OF_UNIFORM = 0.1
MAX_DIGIT_SHARE = 0.2
SHARE_TOLERANCE = 0.2
CONFIDENT_PROBABILITY = 0.9


# ----------------------------------------------------------------------------- counts

def class_coverage(labels, num_classes: int = NUM_DIGITS, min_share: float = MIN_SHARE_OF_UNIFORM,
                   confidence=None, threshold: float = CONFIDENT_PROBABILITY) -> dict:
    """Predicted-class histogram of a set of samples.

    ``covered`` counts the digits that get at least ``min_share`` of a uniform share
    (N / 10 samples), so that a few stray predictions do not count as a mode.
    ``entropy`` is in bits: log2(10) = 3.32 for a uniform spread, 0 for a single digit.
    With ``confidence`` (each label's softmax probability) also ``confident_counts``, the
    histogram of the labels predicted with at least ``threshold`` (``confident_threshold``), and
    ``confident_share``, the share of the samples that pass it (module docstring: why).
    """
    labels = torch.as_tensor(labels).reshape(-1).cpu()
    n = len(labels)
    counts = torch.bincount(labels, minlength=num_classes).tolist()
    p = np.asarray(counts, dtype=np.float64) / max(n, 1)
    nonzero = p[p > 0]
    entropy = float(-(nonzero * np.log2(nonzero)).sum()) if n else 0.0
    covered = int(sum(c >= min_share * n / num_classes and c > 0 for c in counts))
    result = {"counts": counts, "n": n, "covered": covered, "entropy": round(entropy, 4),
              "max_entropy": round(math.log2(num_classes), 4)}
    if confidence is not None:
        confidence = torch.as_tensor(confidence).reshape(-1).cpu()
        if len(confidence) != n:
            raise ValueError(f"class coverage: {len(confidence)} confidences for {n} labels")
        sure = confidence >= threshold
        result.update(confident_counts=torch.bincount(labels[sure], minlength=num_classes).tolist(),
                      confident_threshold=threshold, confident_share=int(sure.sum()) / n if n else 0.0)
    return result


def confident_largest_share(coverage: dict) -> float | None:
    """The share of the most produced digit among the confident predictions (None without
    ``confident_counts``, or when no prediction is confident)."""
    counts = coverage.get("confident_counts")
    return None if not counts or not sum(counts) else max(counts) / sum(counts)


def shares(coverage: dict) -> np.ndarray:
    """The share of each digit in a ``class_coverage`` record."""
    return np.asarray(coverage["counts"], dtype=float) / max(coverage["n"], 1)


def largest_share(coverage: dict) -> float:
    """The share of the most produced digit (``UNIFORM_SHARE`` when perfectly spread)."""
    return float(shares(coverage).max())


# ----------------------------------------------------------------------------- per digit

@torch.no_grad()
def classifier_confidence(evaluator, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(predicted digit, its softmax probability) for every image, from the Evaluator's MNIST
    classifier (with the Evaluator's rounding)."""
    confidence, labels = evaluator.probabilities(images).cpu().max(1)
    return labels, confidence

def confidence_by_digit(labels: torch.Tensor, confidence: torch.Tensor, sure: float = CONFIDENT_PROBABILITY) -> pd.DataFrame:
    """Per predicted digit: mean classifier confidence and the share of its samples above ``sure``."""
    frame = pd.DataFrame({"digit": labels.numpy(), "confidence": confidence.numpy()})
    grouped = frame.groupby("digit")["confidence"]
    table = pd.DataFrame({"mean confidence": grouped.mean(), f"share p >= {sure}": grouped.apply(lambda c: (c >= sure).mean())})
    return table.reindex(range(NUM_DIGITS))


def class_share_table(counts, real_counts, tolerance: float = SHARE_TOLERANCE, confidence: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per digit: generated count and share, its ratio to the uniform 10 %, the share the same
    classifier predicts on real MNIST test digits, and a verdict: "over" / "under" when the
    share is more than ``tolerance`` (relative) above / below 10 %, else "ok". ``z`` is the
    deviation from 10 % in binomial standard errors (how far beyond sampling noise it is).
    ``confidence`` (from ``confidence_by_digit``) adds its columns."""
    counts = np.asarray(counts, dtype=float)
    real = np.asarray(real_counts, dtype=float)
    n = counts.sum()
    share = counts / n
    stderr = np.sqrt(UNIFORM_SHARE * (1 - UNIFORM_SHARE) / n)
    ratio = share / UNIFORM_SHARE
    slack = 1e-9  # so that a share exactly at the tolerance counts as "ok" on both sides
    verdict = np.where(ratio > 1 + tolerance + slack, "over",
                       np.where(ratio < 1 - tolerance - slack, "under", "ok"))
    table = pd.DataFrame({"generated": counts.astype(int), "share": share, "share / 10%": ratio,
                          "z vs 10%": (share - UNIFORM_SHARE) / stderr,
                          "real test share": real / real.sum(), "verdict": verdict},
                         index=pd.Index(range(len(counts)), name="digit"))
    if confidence is not None:
        table = table.join(confidence.rename_axis("digit"))
    return table


def collapse_summary(table: pd.DataFrame) -> dict:
    """Over- and under-produced digits (most extreme first) and the headline numbers."""
    over = table[table["verdict"] == "over"].sort_values("share", ascending=False)
    under = table[table["verdict"] == "under"].sort_values("share")
    top = table["share"].idxmax()
    return {"over": [int(d) for d in over.index], "under": [int(d) for d in under.index],
            "most": int(top), "most_share": float(table["share"].max()),
            "least": int(table["share"].idxmin()), "least_share": float(table["share"].min()),
            "max_over_min": float(table["share"].max() / table["share"].min()) if table["share"].min() > 0
            else float("inf"),
            "total_variation_from_uniform": float(0.5 * (table["share"] - UNIFORM_SHARE).abs().sum())}


def dominant_digits(history: pd.DataFrame) -> pd.DataFrame:
    """From ``gan_study.coverage_history``: per evaluated epoch the most and least produced
    digit, their shares, and the total-variation distance from the uniform spread."""
    return pd.DataFrame({"most produced": history.idxmax(axis=1), "its share": history.max(axis=1),
                         "least produced": history.idxmin(axis=1), "least share": history.min(axis=1),
                         "TV from uniform": 0.5 * (history - UNIFORM_SHARE).abs().sum(axis=1)}).rename_axis("epoch")


# ----------------------------------------------------------------------------- figures

def coverage_bar(ax, coverage: dict, title: str = ""):
    """Bar chart of the 10 predicted-class counts with the uniform level as a dashed line."""
    counts = coverage["counts"]
    ax.bar(range(len(counts)), counts, color="C0")
    ax.axhline(coverage["n"] / len(counts), color="0.3", linestyle="--", linewidth=1, label="uniform")
    ax.set_xticks(range(len(counts)))
    ax.set(xlabel="predicted digit", ylabel="count",
           title=title or f"class coverage: {coverage['covered']}/10 digits, "
                          f"entropy {coverage['entropy']:.2f} of {coverage['max_entropy']:.2f} bits")
    ax.legend(loc="upper right")
    return ax


def label_grid(ax, labels, images: torch.Tensor | None = None, nrow: int = 10, title: str = ""):
    """The predicted label of each sample in a ``nrow``-wide grid (like a 10x10 label table).

    With ``images`` ([N, 1, H, W] in [0, 1]) each digit is drawn faintly under its label,
    so a wrong or ambiguous prediction can be judged by eye.
    """
    labels = torch.as_tensor(labels).reshape(-1).cpu().tolist()
    rows = math.ceil(len(labels) / nrow)
    if images is not None:
        imgs = images[:len(labels)].detach().float().cpu().clamp(0, 1)[:, 0]
        height, width = imgs.shape[1:]
        canvas = np.zeros((rows * height, nrow * width))
        for i, img in enumerate(imgs):
            r, c = divmod(i, nrow)
            canvas[r * height:(r + 1) * height, c * width:(c + 1) * width] = img.numpy()
        ax.imshow(canvas, cmap="gray_r", vmin=0, vmax=3, extent=(-0.5, nrow - 0.5, rows - 0.5, -0.5))
    corner = 0.0 if images is None else -0.45  # over a digit, the label moves to the cell's corner
    for i, label in enumerate(labels):
        r, c = divmod(i, nrow)
        ax.text(c + corner, r + corner, str(label), ha="center" if images is None else "left",
                va="center" if images is None else "top", fontsize=11 if images is None else 8,
                fontweight="bold", color="C3")
    ax.set(xlim=(-0.5, nrow - 0.5), ylim=(rows - 0.5, -0.5), title=title)
    ax.set_xticks(np.arange(-0.5, nrow, 1), minor=True)
    ax.set_yticks(np.arange(-0.5, rows, 1), minor=True)
    ax.grid(which="minor", color="0.8", linewidth=0.5)
    ax.tick_params(which="both", bottom=False, left=False, labelbottom=False, labelleft=False)
    ax.grid(which="major", visible=False)
    return ax


def plot_digit_shares(ax, shares_by_name: dict, title: str = "predicted-digit shares of the final samples"):
    """Grouped bars: one group per digit, one bar per named set of shares (``shares``), with
    the uniform share and the ``MAX_DIGIT_SHARE`` limit."""
    width = 0.8 / max(len(shares_by_name), 1)
    for i, (label, values) in enumerate(shares_by_name.items()):
        ax.bar(np.arange(NUM_DIGITS) + (i - (len(shares_by_name) - 1) / 2) * width, values, width, label=label)
    ax.axhline(UNIFORM_SHARE, color="0.3", linestyle="--", linewidth=1, label=f"uniform ({UNIFORM_SHARE:.0%})")
    ax.axhline(MAX_DIGIT_SHARE, color="C3", linestyle=":", linewidth=1, label=f"{MAX_DIGIT_SHARE:.0%} limit")
    ax.set_xticks(range(NUM_DIGITS))
    ax.set(xlabel="predicted digit", ylabel="share of samples", title=title)
    ax.legend(fontsize=8)
    return ax
