"""The sections that several study notebooks share, one call each: the opening, the evaluator
of every FID, a table of final metrics, the memorisation check and walks between noise vectors.

    P, run, metrics = sections.open_notebook("01_vae", globals())
    P, run, metrics, evaluator, train_config = sections.open_gan_notebook("03_gan_pixelshuffle", globals())
    sections.show_metrics_table({"GAN": final, "MNIST train images": floor})
    sections.show_memorisation(metrics, {"gan": samples}, {"gan": "GAN samples"}, run.device)
    sections.show_noise_walks(generator, P.seed, "GAN")

A helper whose name starts with ``show_`` displays what it made (figures, tables, lines).
"""
from typing import NamedTuple

import matplotlib.pyplot as plt
import torch
from IPython.display import display

from nbhelpers.metrics import memorisation, tables
from nbhelpers.metrics.evaluator import Evaluator
from nbhelpers.models import gan, latent
from nbhelpers.report import context, parameters, plots, records
from nbhelpers.studies import gan_study


class Opening(NamedTuple):
    params: object             # the parameters, as attributes (``parameters.notebook_params``)
    run: context.Run
    metrics: records.Metrics


class GanOpening(NamedTuple):
    params: object
    run: context.Run
    metrics: records.Metrics
    evaluator: Evaluator
    train_config: gan.GanConfig   # the engine's settings from the parameters (``gan_study.gan_config``)


def open_notebook(stem: str, namespace: dict) -> Opening:
    """The top of every notebook: its parameters, checked (``namespace``: the notebook's
    ``globals()``), the run started (``context.start_run``: seeds, device, the parameters
    table), the metrics record opened, and the plotting style."""
    params = parameters.notebook_params(stem, namespace)
    return _opened(stem, params)


def _opened(stem: str, params) -> Opening:
    run = context.start_run(stem, params)
    metrics = records.Metrics(run)
    plots.set_style()
    return Opening(params, run, metrics)


def open_gan_notebook(stem: str, namespace: dict) -> GanOpening:
    """``open_notebook`` for the GAN notebooks (03-05): the engine's settings are built from the
    parameters before the run starts (a bad optimiser value stops before anything is written),
    and the evaluator is built with its feature extractors recorded."""
    params = parameters.notebook_params(stem, namespace)
    train_config = gan_study.gan_config(params)
    params, run, metrics = _opened(stem, params)
    evaluator = evaluator_for(run, params)
    metrics.data["feature_extractors"] = evaluator.feature_extractors()
    return GanOpening(params, run, metrics, evaluator, train_config)


def evaluator_for(run, params, **sizes) -> Evaluator:
    """The notebook's Evaluator, sized by the shared ``fid_*`` parameters; ``sizes``
    (``n_inception``, ``n_classifier``) replace the sample counts, e.g. for cheap curves."""
    counts = {"n_inception": params.fid_n_inception, "n_classifier": params.fid_n_classifier, **sizes}
    return Evaluator(run.device, **counts, ref_n_inception=params.fid_ref_n_inception,
                     ref_n_classifier=params.fid_ref_n_classifier)


def show_metrics_table(results: dict, digits: int = 3) -> None:
    """``tables.fid_table`` of ``{sample set: evaluation}``, one column per sample set so that
    every metric stays visible, rounded to ``digits``."""
    display(tables.fid_table(results).round(digits).T)


def show_memorisation(metrics, sample_sets: dict[str, torch.Tensor], labels: dict[str, str],
                      device) -> None:
    """Are the samples copies of training digits? For the first 1,000 samples of every set
    (fewer when a set is smaller) and for as many random MNIST test digits, which no model saw,
    find the exact nearest of all 60,000 training images in pixel space (Euclidean distance
    between the 784 grey levels; ``metrics.memorisation``), whatever ``train_limit`` a model
    trained on. Pixels, because a copy is a copy there (distance 0 up to 8-bit rounding) and
    the pairs can be checked by eye; the classifier's 128 features would call any two clean
    digits of one class close, which says "same class", not "same image" (the price: a shifted
    copy is not caught).

    Each set's model record (``metrics``, keyed as ``sample_sets``) gets ``memorisation``: both
    medians and their ratio. Far below 1 means copying; near or above 1, the samples are no
    closer to the training set than unseen real digits are. Smooth images (a VAE's decoder
    means) lie nearer their neighbours in pixel distance than sharp ones, which pulls the ratio
    down a little without any copying: the pairs tell the two apart.

    Shown: one line per set, the table of all sets when there are several, then per set the
    first samples and those nearest to the training set, each above its nearest training
    image (``labels``: set -> its name in titles and legends), and the histograms of the
    distances beside those of the test digits."""
    memo = memorisation.check_mnist(sample_sets, device)
    for name in sample_sets:
        metrics.update_model(name, memorisation=memo.record(name))
        print(memorisation.summary_line(memo, name))
    if len(sample_sets) > 1:
        display(memo.table().rename(index=labels).round(3))
    count = 10 if len(sample_sets) == 1 else 8
    for name in sample_sets:
        memorisation.plot_neighbours(memo, name, count=count,
                                     title=f"{labels[name]}: samples above their nearest training images")
        plt.show()
    fig, ax = plt.subplots(figsize=(9, 4))
    memorisation.plot_distances(ax, memo, labels=labels)
    fig.tight_layout()
    plt.show()


def show_noise_walks(generator: torch.nn.Module, seed: int, name: str, pairs: int = 8, steps: int = 10) -> None:
    """Walks between ``pairs`` pairs of independent noise vectors z_a, z_b ~ N(0, I) drawn from
    ``seed`` (the same noise for every generator of that latent size and seed), each decoded
    at ``steps`` points: along the great circle (slerp) and along the straight line, one row per
    pair; then the mean |z| along both paths (``latent.norms_text``)."""
    ends = latent.gaussian_noise(2 * pairs, generator.latent_dim, seed=seed)
    walks = {method: latent.interpolate(ends[:pairs], ends[pairs:], steps, method) for method in ("slerp", "linear")}
    plots.show_grids({f"{name}, {method} interpolation (row = one pair)": latent.decode_generator(generator, path)
                      for method, path in walks.items()}, nrow=steps, size=6)
    plt.show()
    print(latent.norms_text(walks))
