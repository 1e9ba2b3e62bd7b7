"""A GAN's evaluations, as ``gan_study`` runs them, against the same evaluations done the way
they were before two changes that leave every number as it was, bit for bit (checked every round):

- **every evaluated epoch** (``training_evaluator`` at an epoch without Inception): samples
  from the generator, classifier FID, class coverage. Before, class coverage ran the whole
  classifier over the samples a second time; now it takes the logits from the FID's features
  (``Evaluator.class_coverage``);
- **the end of training**: the last epoch's evaluation, the final evaluation
  (``final_evaluation``: Inception and classifier FID, KID, class coverage, precision/recall,
  density/coverage) and the final samples (``final_samples``). Before, each drew the same
  sample set from the generator again, and the final evaluation computed its classifier
  features again; now the set is drawn once (``samples.evaluation_samples``), and the
  ``Evaluator`` reuses the features it computed from it.

- **the evaluation schedule of a 12-epoch run** (the cpu profile's): every epoch evaluated
  against every epoch of the first quarter and then the quarters (``eval_every_through``); the
  generator moves between epochs (a seeded nudge of its weights per epoch, the same on both
  sides), and the numbers at the epochs both evaluate must be equal.

Rounds alternate between old and new, each timed in process CPU-seconds (what a busy machine
distorts least); the medians are compared. The generator is the GAN notebooks' network with
freshly initialised weights (the work per image is a trained one's), a fresh copy each round.
Inception runs on ``--n-inception`` images only: its work is the same old and new.

    python -m nbhelpers.bench evaluation
    python -m nbhelpers.bench.evaluation [--n 10000] [--n-inception 16] [--rounds 3] [--threads 1]
"""
import argparse
import copy
import statistics
import time
import warnings

import torch

from nbhelpers.metrics import coverage
from nbhelpers.metrics.evaluator import Evaluator
from nbhelpers.metrics.samples import evaluation_samples
from nbhelpers.models import gan
from nbhelpers.models.gan import nets
from nbhelpers.studies.gan_study import EVAL_SEED


class SecondPassEvaluator(Evaluator):
    """An Evaluator whose class coverage runs the whole classifier over the images again."""

    def class_coverage(self, images: torch.Tensor) -> dict:
        n = self.n["classifier"] or len(images)
        labels, confidence = self.predictions(images[:n])
        return coverage.class_coverage(labels, confidence=confidence)


def drawn_once(generator, count: int, seed: int):
    """The new way to draw an evaluation set: ``evaluation_samples`` over ``gan.sample_images``."""
    return evaluation_samples(gan.sample_images, generator, count, seed=seed)


def epoch_evaluation(evaluator: Evaluator, generator, draw) -> dict:
    """``gan_study.training_evaluator``'s work at an epoch without Inception, ``draw`` drawing
    the samples; its numbers."""
    samples = draw(generator, evaluator.n["classifier"], seed=EVAL_SEED)
    return {"fid": evaluator.fid(samples, "classifier")["value"], "coverage": evaluator.class_coverage(samples)}


def end_of_training(evaluator: Evaluator, generator, draw) -> dict:
    """The last epoch's evaluation, ``gan_study.final_evaluation`` and ``final_samples``, each
    drawing with ``draw``; their numbers (the final samples' as a checksum)."""
    last = epoch_evaluation(evaluator, generator, draw)
    final = evaluator.evaluate(lambda n: draw(generator, n, seed=EVAL_SEED))
    samples = draw(generator, max(evaluator.n.values()), seed=EVAL_SEED)
    return {"last": last, "final": final, "samples": samples.double().sum().item()}


def nudged(generator, epoch: int):
    """A copy of ``generator`` whose weights moved by a small step seeded by ``epoch``: a stand-in
    for an epoch of training, the same for every schedule."""
    moved = copy.deepcopy(generator)
    noise = torch.Generator().manual_seed(epoch)
    with torch.no_grad():
        for parameter in moved.parameters():
            parameter.add_(torch.randn(parameter.shape, generator=noise), alpha=1e-3 * epoch)
    return moved


def schedule_of_evaluations(evaluator: Evaluator, generator, epochs: list[int]) -> dict:
    """``epoch_evaluation`` of the generator as it stands at each of ``epochs``; numbers by epoch."""
    return {epoch: epoch_evaluation(evaluator, nudged(generator, epoch), drawn_once) for epoch in epochs}


def compare_schedules(evaluator: Evaluator, generator, epochs: int, rounds: int) -> float:
    """Every epoch evaluated (old) against ``eval_every_through`` "first_quarter" (new), alternating
    for ``rounds`` rounds after a warm-up; prints and returns the ratio of the medians, old / new."""
    every = gan.GanConfig(epochs=epochs, eval_every=1)
    schedules = {"old": gan.evaluation_epochs(every),
                 "new": gan.evaluation_epochs(every.with_overrides(eval_every_through="first_quarter"))}
    def same_where_both_evaluate(results):
        if any(results["old"][epoch] != numbers for epoch, numbers in results["new"].items()):
            raise AssertionError("the sparser schedule's numbers differ from every epoch's at the same epochs")

    seconds = alternate({side: (lambda epochs_evaluated=epochs_evaluated: schedule_of_evaluations(
        evaluator, generator, epochs_evaluated)) for side, epochs_evaluated in schedules.items()},
        rounds, same_where_both_evaluate)
    return old_against_new(f"evaluations during a {epochs}-epoch run (old: epochs {schedules['old']}, new: "
                           f"{schedules['new']})", seconds, "numbers at the shared epochs identical")


def timed(work) -> tuple[dict, float]:
    """(``work()``, its process CPU-seconds), without autograd as ``gan.train`` calls it."""
    started = time.process_time()
    with torch.no_grad():
        result = work()
    return result, time.process_time() - started


def alternate(works: dict, rounds: int, check) -> dict[str, list[float]]:
    """Each of ``works`` (side -> a call without arguments) in turn, for ``rounds`` rounds after
    a warm-up round (weights, reference statistics, first-call allocations); ``check(results)``
    raises when the sides' numbers disagree, every round. Each side's process CPU-seconds."""
    seconds = {side: [] for side in works}
    for round_ in range(rounds + 1):
        results = {}
        for side, work in works.items():
            results[side], spent = timed(work)
            if round_:
                seconds[side].append(spent)
        check(results)
    return seconds


def compare(name: str, old: tuple, new: tuple, generator, rounds: int) -> float:
    """Alternate ``old`` and ``new`` (each ``(work, evaluator, draw)``) for ``rounds`` rounds
    after one warm-up each; print and return the ratio of the medians, old / new."""
    def identical(results):
        if results["old"] != results["new"]:
            raise AssertionError(f"{name}: old and new differ:\n  {results['old']}\n  {results['new']}")

    seconds = alternate({side: (lambda work=work, evaluator=evaluator, draw=draw: work(
        evaluator, copy.deepcopy(generator), draw)) for side, (work, evaluator, draw) in (("old", old), ("new", new))},
        rounds, identical)
    return old_against_new(name, seconds, "numbers identical")


def old_against_new(label: str, seconds: dict[str, list[float]], checked: str) -> float:
    """Print the medians of both sides (and their minima), their ratio and what was checked;
    return the ratio, old / new."""
    medians = {side: statistics.median(values) for side, values in seconds.items()}
    ratio = medians["old"] / medians["new"]
    print(f"  {label}: old {medians['old']:.3f} s (min {min(seconds['old']):.3f}), "
          f"new {medians['new']:.3f} s (min {min(seconds['new']):.3f}), old / new {ratio:.2f}x, "
          f"saved {medians['old'] - medians['new']:.2f} s; {checked}", flush=True)
    return ratio


def main(device: str = "cpu", n: int = 10_000, n_inception: int = 16, rounds: int = 3, threads: int = 1,
         epochs: int = 12) -> dict:
    if device not in ("auto", "cpu"):
        print("the evaluation bench runs on the CPU (the batch's runs without a GPU)")
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    generator = nets.Generator()
    quiet = dict(n_classifier=n, ref_n_classifier=min(n, 10_000), log=lambda *_: None)
    print(f"a GAN's evaluations: {n} samples (classifier), {threads} thread(s), {rounds} interleaved rounds, "
          f"process CPU-seconds (median):", flush=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # small-N Inception rows are flagged as biased: the same old and new
        each_epoch = compare("every evaluated epoch", (epoch_evaluation, SecondPassEvaluator("cpu", n_inception=0, **quiet), gan.sample_images),
                             (epoch_evaluation, Evaluator("cpu", n_inception=0, **quiet), gan.sample_images), generator, rounds)
        sizes = dict(n_inception=n_inception, ref_n_inception=max(n_inception, 32), **quiet)
        at_the_end = compare("end of training", (end_of_training, SecondPassEvaluator("cpu", **sizes), gan.sample_images),
                             (end_of_training, Evaluator("cpu", **sizes), drawn_once), generator, rounds)
        schedule = compare_schedules(Evaluator("cpu", n_inception=0, **quiet), generator, epochs, rounds)
    return {"n": n, "n_inception": n_inception, "rounds": rounds, "threads": threads,
            "every_epoch_ratio": each_epoch, "end_of_training_ratio": at_the_end, "schedule_ratio": schedule}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m nbhelpers.bench.evaluation", description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=10_000, help="samples per evaluation (the cpu profile's)")
    parser.add_argument("--n-inception", type=int, default=16, help="Inception's samples in the final evaluation")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (a batch's CPU runs use 1)")
    parser.add_argument("--epochs", type=int, default=12, help="length of the run whose evaluation schedules compare")
    args = parser.parse_args()
    main("cpu", args.n, args.n_inception, args.rounds, args.threads, args.epochs)
