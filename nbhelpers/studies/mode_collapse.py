"""Mode collapse, measured (notebook 03): which digits a GAN's final samples over- or
under-produce according to the MNIST classifier, how sure the classifier is of them, set
against real test digits, and the lines that say so.

    measured = mode_collapse.measure(evaluator, samples, final["class_coverage"], test_x)
    print("\\n".join(mode_collapse.lines(measured)))

The per-digit table and its thresholds are ``metrics.coverage``'s.
"""
from dataclasses import dataclass

import pandas as pd
import torch

from nbhelpers.metrics import coverage


@dataclass
class DigitShares:
    shares: pd.DataFrame             # ``coverage.class_share_table``, with the confidence columns
    collapse: dict                   # ``coverage.collapse_summary`` of it
    confidence: torch.Tensor         # the classifier's top probability on each sample
    real_confidence: torch.Tensor    # the same on each real test digit


def measure(evaluator, samples: torch.Tensor, counts: dict, test_images: torch.Tensor) -> DigitShares:
    """The per-digit shares of the first ``counts["n"]`` ``samples`` (``counts``: their
    ``class_coverage``, as the final evaluation recorded it) beside those the same classifier
    finds among ``test_images``, with its confidence per predicted digit."""
    labels, confidence = coverage.classifier_confidence(evaluator, samples[:counts["n"]])
    real_labels, real_confidence = coverage.classifier_confidence(evaluator, test_images)
    real_counts = torch.bincount(real_labels, minlength=coverage.NUM_DIGITS)
    shares = coverage.class_share_table(counts["counts"], real_counts,
                                        confidence=coverage.confidence_by_digit(labels, confidence))
    return DigitShares(shares, coverage.collapse_summary(shares), confidence, real_confidence)


def lines(measured: DigitShares) -> list[str]:
    """The over- and under-produced digits, the most and least produced with their ratio and
    the distance from uniform, the report's suspects (3 and 8), the classifier's confidence on
    each flagged digit against the digits within the band, and on samples against real digits."""
    shares, collapse = measured.shares, measured.collapse
    low = coverage.UNIFORM_SHARE * (1 - coverage.SHARE_TOLERANCE)
    high = coverage.UNIFORM_SHARE * (1 + coverage.SHARE_TOLERANCE)

    def digit(d: int) -> str:
        return f"{d} ({100 * shares.loc[d, 'share']:.1f} %)"

    text = [f"over-produced (> {high:.0%}): {', '.join(map(digit, collapse['over'])) or 'none'}",
            f"under-produced (< {low:.0%}): {', '.join(map(digit, collapse['under'])) or 'none'}",
            f"most produced: {digit(collapse['most'])}; least produced: {digit(collapse['least'])}; "
            f"ratio {collapse['max_over_min']:.2f}; total-variation distance from uniform "
            f"{collapse['total_variation_from_uniform']:.3f}",
            f"the report's suspects: 3 -> {digit(3)}, 8 -> {digit(8)}"]
    flagged = collapse["over"] + collapse["under"]
    others = shares.drop(index=flagged)["mean confidence"].mean() if len(flagged) < 10 else float("nan")
    text += [f"digit {d} ({shares.loc[d, 'verdict']}): mean classifier confidence "
             f"{shares.loc[d, 'mean confidence']:.3f} vs {others:.3f} for the digits within the band" for d in flagged]
    text.append(f"classifier confidence on generated samples {measured.confidence.mean():.3f}, "
                f"on real test digits {measured.real_confidence.mean():.3f}")
    return text
