"""FID, KID and class coverage of generated MNIST digits: the ``Evaluator``, tables, and the CLI.

What each number is lives in its own module, and this one puts them together:

- ``distances``: the Frechet distance (FID) and the kernel MMD (KID) of two feature sets;
- ``features``: the two extractors (``inception``: pool3 of the TF Inception-v3 that published
  FIDs use; ``classifier``: the project's MNIST CNN), batched extraction, the cached MNIST
  test-set reference;
- ``coverage``: which digits the classifier sees in a sample set.

Inception and classifier FIDs are on different scales and never share a column. Every row
says which extractor, how many samples N and which reference produced it; rows with N below
the feature dimension carry ``"biased": true``.

Notebook use::

    ev = fid.Evaluator(run.device, n_inception=p.fid_n_inception, n_classifier=p.fid_n_classifier,
                       ref_n_inception=p.fid_ref_n_inception, ref_n_classifier=p.fid_ref_n_classifier)
    result = ev.evaluate(samples)        # {"fid": [row, row], "kid": {...}, "class_coverage": {...}}
    metrics.update_model("vae", **result)
    fid.fid_table({"VAE prior": result, ...})

Command line (mirrors ``python -m pytorch_fid``)::

    python -m nbhelpers.fid PATH_A PATH_B [--features inception|classifier] [--metrics fid,kid,prc,dc]
                            [--dims 2048] [--device cpu] [--batch-size 50]
    python -m nbhelpers.fid --save-stats PATH OUT.npz     # mu, sigma as pytorch-fid writes them
    python -m nbhelpers.fid --prepare [--profile cpu]   # fetch + verify weights, train the
                                                        # classifier, cache the reference features
"""
import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import yaml

from . import coverage
from .assets import AssetError, atomic_save
from .distances import (KID_SUBSET_SIZE, KID_SUBSETS, fid_of_features, frechet_distance, kid, kid_subset_size,
                        sqrtm_psd, statistics)
from .features import FEATURE_DIMS, FEATURES, MNIST_TEST_SIZE, extract, load_extractor, reference
from .features import batch_size as default_batch_size
from .images import check_images, load_images
from .inception import INCEPTION_SOURCES
from .paths import PARAMS_DIR
from .prdc import density_coverage, precision_recall
from .repro import ReportNote, pick_device

__all__ = ["Evaluator", "SmallSampleWarning", "fid_table", "fid_curves", "prepare", "main", "statistics",
           "sqrtm_psd", "frechet_distance", "fid_of_features", "kid", "check_images", "load_images", "extract",
           "precision_recall", "density_coverage", "FEATURES", "FEATURE_DIMS", "MNIST_TEST_SIZE", "KID_SUBSETS",
           "KID_SUBSET_SIZE"]


# Improved precision/recall: k = 3 (Kynkaanniemi et al. 2019); density/coverage: k = 5 (Naeem et
# al. 2020). Both papers measure with 10k or more samples a side; fewer shrink every k-NN ball's
# neighbours less and shift the values, so such rows are flagged like small-N FIDs.
PRDC_K = {"precision_recall": 3, "density_coverage": 5}
PRDC_MIN_N = 10_000


class SmallSampleWarning(ReportNote):
    """FID from fewer samples than feature dimensions: rank-deficient covariance, biased value
    (a report shows it once, as a note: its tables flag the rows)."""


def is_biased(n: int, ref_n: int, features: str) -> bool:
    """An FID from fewer samples (either side) than feature dimensions is biased upward."""
    return min(n, ref_n) < FEATURE_DIMS[features]


class Evaluator:
    """FID / KID / class coverage of generated digits against the MNIST test set.

    Cheap to build: weights, the classifier and reference statistics load on first use.
    Sizes (a notebook passes its parameters ``fid_n_inception`` etc. straight in):

    - ``n_inception`` / ``n_classifier``: samples used per evaluation (the first N of the
      images given); 0 switches that extractor off in ``evaluate``.
    - ``ref_n_inception`` / ``ref_n_classifier``: how many test images form the reference
      ("mnist-test" when 10000, else "mnist-test[:n]").

    ``device``: a torch.device or "cpu" / "cuda" / "auto". Images: [N, 1, 28, 28] float in
    [0, 1] (or uint8), on any device. With ``quantize`` (default) floats are rounded to 1/255
    steps first, as the exported .npz would, so the CLI on exported samples gives the same FID.
    """

    def __init__(self, device="cpu", n_inception: int = 10_000, n_classifier: int = 10_000,
                 ref_n_inception: int = 10_000, ref_n_classifier: int = 10_000, batch_size: int | None = None,
                 kid_subsets: int = KID_SUBSETS, kid_subset_size: int = KID_SUBSET_SIZE, quantize: bool = True,
                 inception_source: str | None = None, log=print):
        self.device = pick_device(device) if isinstance(device, str) else torch.device(device)
        self.n = {"inception": n_inception, "classifier": n_classifier}
        self.ref_n = {"inception": ref_n_inception, "classifier": ref_n_classifier}
        for name, value in [*self.n.items(), *self.ref_n.items()]:
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"sample sizes must be ints >= 0, got {name}={value!r}")
        for name, value in self.ref_n.items():
            if not 2 <= value <= MNIST_TEST_SIZE:
                raise ValueError(f"ref_n_{name} must be in [2, {MNIST_TEST_SIZE}], got {value}")
        self.batch_size = {kind: default_batch_size(kind, self.device) for kind in FEATURES}
        if batch_size:
            self.batch_size["inception"] = batch_size
        self.kid_subsets, self.kid_subset_size = kid_subsets, kid_subset_size
        self.quantize, self.inception_source, self.log = quantize, inception_source, log
        self._extractors, self._memo = {}, {}

    # -- what produces the features
    def _extractor(self, features: str):
        if features not in self._extractors:
            self._extractors[features] = load_extractor(features, self.device, self.inception_source, log=self.log)
        return self._extractors[features]

    def classifier(self) -> tuple[torch.nn.Module, dict]:
        """The metric classifier and its record (accuracy, key, ...)."""
        _, info = self._extractor("classifier")
        return info["model"], {k: v for k, v in info.items() if k not in ("model", "tag")}

    def feature_extractors(self) -> dict:
        """What produced the numbers, for the top of metrics.json."""
        _, inception = self._extractor("inception")
        _, record = self.classifier()
        return {"inception": {"source": inception["source"], "sha256": inception["sha256"]},
                "classifier": {k: record[k] for k in ("source", "sha256", "test_accuracy", "key", "config")}}

    # -- features
    def extract(self, images: torch.Tensor, features: str = "inception", fn=None) -> torch.Tensor:
        """Features [N, D] of every image given (``fn`` replaces the extractor's function, e.g.
        the classifier's logits), with this Evaluator's device, batch size and rounding."""
        extractor = fn or self._extractor(features)[0]
        return extract(extractor, images, self.device, self.batch_size[features], quantize=self.quantize,
                       label=f"{features} features", log=self.log if features == "inception" else None)

    def features(self, images: torch.Tensor, features: str = "inception") -> torch.Tensor:
        """Features [n, D] (float32, on the device) of the first n images; the last call's
        result is reused while the same, unmodified tensor is passed again."""
        if features not in FEATURES:
            raise ValueError(f"features must be one of {FEATURES}, got {features!r}")
        n = self.n[features]
        if n == 0:
            raise ValueError(f"n_{features} is 0: {features} features are switched off in this Evaluator")
        images = check_images(images, grey_28=features == "classifier")
        if len(images) < n:
            raise ValueError(f"{features}: got {len(images)} images but n_{features} is {n}; "
                             f"generate at least {n} samples")
        memo = self._memo.get(features)
        if memo and memo[0] is images and memo[1] == images._version:
            return memo[2]
        result = self.extract(images[:n], features)
        self._memo[features] = (images, images._version, result)  # holds the tensor: no id reuse
        return result

    def reference(self, features: str = "inception") -> dict:
        """The cached features and statistics of the reference set (``features.reference``)."""
        _, info = self._extractor(features)
        return reference(info["tag"], self.ref_n[features], lambda images: self.extract(images, features))

    # -- metrics
    def _row(self, features: str, n: int, ref: dict) -> dict:
        """What every metric row names: the features, the weights that made them (sha256
        prefix), N and the reference set."""
        _, info = self._extractor(features)
        return {"features": features, "weights": info["sha256"][:16], "n": n, "ref": ref["ref"]}

    def fid(self, images: torch.Tensor, features: str = "inception", epoch: int | None = None) -> dict:
        """{"features", "weights", "n", "ref", "value"} (+ "epoch"; + "biased": True when n or the
        reference size is below the feature dimension, with a SmallSampleWarning)."""
        feats = self.features(images, features)
        ref = self.reference(features)
        row = {**self._row(features, len(feats), ref), "value": fid_of_features(ref, feats)}
        if epoch is not None:
            row["epoch"] = epoch
        if is_biased(len(feats), len(ref["features"]), features):
            row["biased"] = True
            warnings.warn(f"{features} FIDs at N={len(feats)} against {ref['ref']} are biased upward (fewer samples "
                          f"than the {FEATURE_DIMS[features]} features: rank-deficient covariance); the tables flag "
                          f"them: compare them only with FIDs of the same N and reference",
                          SmallSampleWarning, stacklevel=2)
        return row

    def kid(self, images: torch.Tensor, features: str = "inception") -> dict:
        """{"features", "weights", "n", "ref", "mean", "std", "subsets", "subset_size"}."""
        feats = self.features(images, features)
        ref = self.reference(features)
        mean, std = kid(feats, ref["features"], self.kid_subsets, self.kid_subset_size)
        return {**self._row(features, len(feats), ref), "mean": mean, "std": std, "subsets": self.kid_subsets,
                "subset_size": kid_subset_size(len(feats), len(ref["features"]), self.kid_subset_size)}

    def fidelity_diversity(self, images: torch.Tensor, features: str = "classifier") -> dict:
        """Improved precision/recall (k = 3) and density/coverage (k = 5) of the first n images
        against the reference (``prdc``; the reference is the real set):
        {"precision_recall": row, "density_coverage": row}, each row {"features", "n", "ref",
        "k", its two values} (+ "biased": True below ``PRDC_MIN_N`` samples on either side)."""
        feats = self.features(images, features)
        ref = self.reference(features)
        real = ref["features"].to(feats.device)
        rows = {"precision_recall": (PRDC_K["precision_recall"], precision_recall),
                "density_coverage": (PRDC_K["density_coverage"], density_coverage)}
        result = {}
        for name, (k, metric) in rows.items():
            row = {**self._row(features, len(feats), ref), "k": k, **metric(real, feats, k=k)}
            if min(len(feats), len(real)) < PRDC_MIN_N:
                row["biased"] = True
            result[name] = row
        return result

    def predict(self, images: torch.Tensor) -> torch.Tensor:
        """The classifier's predicted digit for every image (all of them, not only n)."""
        images = check_images(images, grey_28=True)
        model, _ = self.classifier()
        return self.extract(images, "classifier", fn=lambda b: model(b).argmax(1, keepdim=True).float()).long().flatten()

    def probabilities(self, images: torch.Tensor) -> torch.Tensor:
        """The classifier's softmax over the ten digits for every image, [N, 10]."""
        images = check_images(images, grey_28=True)
        model, _ = self.classifier()
        return self.extract(images, "classifier", fn=lambda b: model(b).softmax(1))

    def class_coverage(self, images: torch.Tensor) -> dict:
        """Predicted-class counts of the first n_classifier images (``coverage.class_coverage``)."""
        n = self.n["classifier"] or len(images)
        if len(images) < n:
            raise ValueError(f"class coverage: got {len(images)} images but n_classifier is {n}")
        return coverage.class_coverage(self.predict(images[:n]))

    def evaluate(self, images_or_sampler, epoch: int | None = None, kid: bool = True,
                 coverage: bool = True, prdc: bool = True) -> dict:
        """Every metric of one sample set, features computed once:
        {"fid": [inception row, classifier row], "kid": {...}, "class_coverage": {...},
        "precision_recall": {...}, "density_coverage": {...}} (the last two on classifier features).

        ``images_or_sampler``: images, or a function ``n -> images`` called once for
        max(n_inception, n_classifier) samples. Extractors with n = 0 are skipped.
        """
        kinds = [k for k in FEATURES if self.n[k] > 0]
        if not kinds:
            raise ValueError("n_inception and n_classifier are both 0: nothing to evaluate")
        images = images_or_sampler
        if callable(images_or_sampler):
            with torch.no_grad():
                images = images_or_sampler(max(self.n[k] for k in kinds))
        result = {"fid": [self.fid(images, k, epoch=epoch) for k in kinds]}
        if kid:
            result["kid"] = self.kid(images, kinds[0])
        if coverage and self.n["classifier"] > 0:
            result["class_coverage"] = self.class_coverage(images)
        if prdc and self.n["classifier"] > 0:
            result.update(self.fidelity_diversity(images, "classifier"))
        return result


# ---------------------------------------------------------------------------- tables and figures

_TITLES = {"inception": "Inception", "classifier": "classifier"}


def fid_table(results: dict):
    """A pandas table, one row per sample set, each extractor in its own columns.

    ``results`` maps a name to ``Evaluator.evaluate`` output or to a list of FID rows (one
    per extractor). Columns: "<extractor> FID", "<extractor> N", "<extractor> ref" (and
    "<extractor> biased" when any row is), then KID and class coverage where present.
    Inception and classifier values never share a column: they are on different scales.
    """
    import pandas as pd
    records = {}
    for name, result in results.items():
        rows = result["fid"] if isinstance(result, dict) and "fid" in result else result
        rows = [rows] if isinstance(rows, dict) else list(rows)
        record = {}
        for row in rows:
            title = _TITLES[row["features"]]
            if f"{title} FID" in record:
                raise ValueError(f"{name!r} has two {row['features']} FID rows (an epoch curve?); "
                                 f"use fid_curves for those")
            record.update({f"{title} FID": row["value"], f"{title} N": row["n"], f"{title} ref": row["ref"]})
            if row.get("biased"):
                record[f"{title} biased"] = True
        if isinstance(result, dict) and "kid" in result:
            k = result["kid"]
            record.update({f"{_TITLES[k['features']]} KID": k["mean"], f"{_TITLES[k['features']]} KID std": k["std"]})
        if isinstance(result, dict) and "class_coverage" in result:
            c = result["class_coverage"]
            record.update({"digits covered": c["covered"], "class entropy (bits)": c["entropy"]})
        for key, names in (("precision_recall", ("precision", "recall")), ("density_coverage", ("density", "coverage"))):
            row = result.get(key) if isinstance(result, dict) else None
            if row:
                record.update({f"{name} (k={row['k']})": row[name] for name in names})
        records[name] = record
    table = pd.DataFrame.from_dict(records, orient="index")
    for column in table.columns:
        if column.endswith("biased"):
            table[column] = table[column].astype("boolean").fillna(False)
    return table


def fidelity_line(result: dict) -> str:
    """One sentence with the precision/recall and density/coverage of an ``evaluate`` result."""
    pr, dc = result.get("precision_recall"), result.get("density_coverage")
    if not pr or not dc:
        return "precision/recall not measured"
    note = " (biased at this N: compare only at the same N)" if pr.get("biased") else ""
    return (f"{pr['features']} features, N={pr['n']} vs {pr['ref']}: precision {pr['precision']:.3f}, recall "
            f"{pr['recall']:.3f} (k={pr['k']}); density {dc['density']:.3f}, coverage {dc['coverage']:.3f} "
            f"(k={dc['k']}){note}")


def fid_curves(ax, curves: dict, features: str = "classifier", title: str = ""):
    """FID against epoch for several runs: ``curves`` maps a name to its FID rows.

    Only rows of ``features`` are drawn; they must share N and reference, which the axis
    label states (a curve is comparable only within one N and reference).
    """
    settings = set()
    for name, rows in curves.items():
        rows = sorted((r for r in rows if r["features"] == features), key=lambda r: r["epoch"])
        settings |= {(r["n"], r["ref"]) for r in rows}
        ax.plot([r["epoch"] for r in rows], [r["value"] for r in rows], marker="o", markersize=3, label=name)
    if len(settings) > 1:
        raise ValueError(f"the curves mix sample sizes / references {sorted(settings)}: not comparable")
    n, ref = settings.pop() if settings else ("?", "?")
    ax.set(xlabel="epoch", ylabel=f"{_TITLES[features]} FID (N={n}, vs {ref})", title=title)
    if len(curves) > 1:
        ax.legend()
    return ax


# ---------------------------------------------------------------------------- command line

def prepare(device="cpu", ref_n_inception: int = 0, ref_n_classifier: int = MNIST_TEST_SIZE,
            inception_source: str | None = None, log=print) -> dict:
    """Fetch and verify the Inception weights, train/cache the classifier and cache the
    classifier's reference features (Inception's too when ``ref_n_inception`` > 0)."""
    ev = Evaluator(device, ref_n_inception=max(ref_n_inception, 2), ref_n_classifier=ref_n_classifier,
                   inception_source=inception_source, log=log)
    info = ev.feature_extractors()
    log(f"Inception: {info['inception']['source']}, sha256 {info['inception']['sha256']} (verified)")
    log(f"classifier: test accuracy {info['classifier']['test_accuracy']:.2%}, key {info['classifier']['key']}")
    kinds = ["classifier"] + (["inception"] if ref_n_inception > 0 else [])
    for kind in kinds:
        started = time.time()
        ref = ev.reference(kind)
        log(f"reference {kind} statistics of {ref['ref']}: ready ({time.time() - started:.1f} s)")
    return info


CLI_METRICS = ("fid", "kid", "prc", "dc")


def load_statistics(path) -> dict | None:
    """pytorch-fid's statistics file (an .npz with ``mu`` and ``sigma``), or None when ``path``
    holds images instead."""
    path = Path(path)
    if path.suffix != ".npz" or not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as archive:
        if not {"mu", "sigma"} <= set(archive.files) or "images" in archive.files:
            return None
        mu, sigma = np.asarray(archive["mu"], np.float64), np.asarray(archive["sigma"], np.float64)
    if mu.ndim != 1 or sigma.shape != (len(mu), len(mu)):
        raise ValueError(f"{path}: mu {mu.shape} and sigma {sigma.shape} are not statistics of one feature space")
    return {"mu": mu, "sigma": sigma}


def compare_paths(path_a, path_b, features: str, metrics, ev: Evaluator, log) -> dict:
    """The chosen metrics between two image sets (folders or .npz of images); for FID alone, a
    side may be pytorch-fid statistics (.npz of mu, sigma). PATH_A is the real (reference) set
    for precision/recall and density/coverage."""
    stats_a, stats_b = load_statistics(path_a), load_statistics(path_b)
    if (stats_a or stats_b) and set(metrics) != {"fid"}:
        raise ValueError("a statistics file (mu, sigma) gives FID only: use --metrics fid, or pass images")
    dim = FEATURE_DIMS[features]
    for path, given in ((path_a, stats_a), (path_b, stats_b)):
        if given is not None and len(given["mu"]) != dim:
            raise ValueError(f"{path}: statistics of {len(given['mu'])} features, but {features} features have {dim}")
    a = None if stats_a else load_images(path_a)
    b = None if stats_b else load_images(path_b)
    if a is not None and b is not None and a.shape[2:] != b.shape[2:]:
        raise ValueError(f"the two sets differ in image size: {path_a} is {a.shape[3]}x{a.shape[2]}, "
                         f"{path_b} is {b.shape[3]}x{b.shape[2]}")
    for path, images in ((path_a, a), (path_b, b)):
        if images is not None:
            check_images(images, name=str(path), grey_28=features == "classifier")
    fa = None if a is None else ev.extract(a, features)
    fb = None if b is None else ev.extract(b, features)
    result = {"features": features, "n_a": None if fa is None else len(fa), "n_b": None if fb is None else len(fb)}
    if "fid" in metrics:
        if fa is not None and fb is not None and len(fb) > len(fa):   # the N x N route needs the smaller set second
            first, second = fb, fa
        else:
            first, second = fa, fb
        given = stats_a or stats_b
        if given is not None and (first is not None or second is not None):
            result["fid"] = fid_of_features(given, second if second is not None else first)
        elif given is not None:
            result["fid"] = frechet_distance(stats_a["mu"], stats_a["sigma"], stats_b["mu"], stats_b["sigma"])
        else:
            mu, sigma = statistics(first)
            result["fid"] = fid_of_features({"mu": mu, "sigma": sigma}, second)
        known = [n for n in (result["n_a"], result["n_b"]) if n]
        if known and min(known) < dim:
            log(f"warning: N < {dim}: rank-deficient covariance, the FID is biased")
    if "kid" in metrics:
        result["kid_mean"], result["kid_std"] = kid(fa, fb)
        result["kid_subset_size"] = kid_subset_size(len(fa), len(fb))
    if "prc" in metrics:
        result["precision_recall"] = precision_recall(fa, fb, k=PRDC_K["precision_recall"])
    if "dc" in metrics:
        result["density_coverage"] = density_coverage(fa, fb, k=PRDC_K["density_coverage"])
    return result


def save_statistics(path_images, path_out, features: str, ev: Evaluator) -> dict:
    """pytorch-fid's ``--save-stats``: the mean and covariance of a set's features to an .npz."""
    images = check_images(load_images(path_images), name=str(path_images), grey_28=features == "classifier")
    mu, sigma = statistics(ev.extract(images, features))
    out = Path(path_out)
    atomic_save(out, lambda handle: np.savez(handle, mu=mu, sigma=sigma))
    return {"path": str(out), "dims": len(mu)}


def _print_result(result: dict) -> None:
    sizes = " vs ".join("statistics" if n is None else str(n) for n in (result["n_a"], result["n_b"]))
    if "fid" in result:
        print(f"FID: {result['fid']:.6f}")
    if "kid_mean" in result:
        print(f"KID: {result['kid_mean']:.6f} +- {result['kid_std']:.6f} "
              f"({KID_SUBSETS} subsets of {result['kid_subset_size']})")
    if "precision_recall" in result:
        pr = result["precision_recall"]
        print(f"precision: {pr['precision']:.6f}, recall: {pr['recall']:.6f} (k={PRDC_K['precision_recall']})")
    if "density_coverage" in result:
        dc = result["density_coverage"]
        print(f"density: {dc['density']:.6f}, coverage: {dc['coverage']:.6f} (k={PRDC_K['density_coverage']})")
    print(f"features: {result['features']}, N = {sizes}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m nbhelpers.fid",
        description="FID, KID, precision/recall and density/coverage between two image sets (folders of images, "
                    ".npz of uint8 'images', or for FID pytorch-fid statistics .npz of mu and sigma). "
                    "PATH_A is the real set.")
    parser.add_argument("paths", nargs="*", metavar="PATH", help="two folders or .npz files")
    parser.add_argument("--features", choices=FEATURES, default="inception")
    parser.add_argument("--metrics", default="fid,kid",
                        help=f"comma-separated, from {', '.join(CLI_METRICS)} (default fid,kid)")
    parser.add_argument("--dims", type=int, default=None,
                        help="feature dimension, as pytorch-fid's: 2048 (Inception pool3) or 128 (classifier)")
    parser.add_argument("--save-stats", action="store_true",
                        help="write the mu and sigma of PATH_A's features to PATH_B (.npz), as pytorch-fid does")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 or auto (cuda if available)")
    parser.add_argument("--batch-size", type=int, default=None, help="Inception batch size (default 50 CPU, 200 CUDA)")
    parser.add_argument("--prepare", action="store_true",
                        help="only fetch/verify the Inception weights and the classifier, cache references")
    parser.add_argument("--ref-n-inception", type=int, default=0,
                        help="with --prepare: also cache Inception features of this many test images")
    parser.add_argument("--profile", choices=("smoke", "cpu", "full"), default=None,
                        help="with --prepare: take the reference sizes from params/<profile>/_all.yaml")
    parser.add_argument("--inception-source", choices=INCEPTION_SOURCES, default=None,
                        help="where the Inception weights come from (default: $NBH_FID_INCEPTION or auto)")
    args = parser.parse_args(argv)
    log = lambda message: print(message, file=sys.stderr)  # noqa: E731  stdout carries the result
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
    unknown = [m for m in metrics if m not in CLI_METRICS]
    if unknown or not metrics:
        parser.error(f"--metrics: unknown {', '.join(unknown) or '(none given)'}; choose from {', '.join(CLI_METRICS)}")
    if args.dims is not None and args.dims != FEATURE_DIMS[args.features]:
        parser.error(f"--dims {args.dims}: {args.features} features have {FEATURE_DIMS[args.features]} dimensions "
                     f"(Inception: pool3 only, 2048; pytorch-fid's 64/192/768 blocks are not offered)")
    try:
        device = pick_device(args.device)
        if args.prepare:
            if args.paths:
                parser.error("--prepare takes no paths")
            sizes = {"ref_n_inception": args.ref_n_inception, "ref_n_classifier": MNIST_TEST_SIZE}
            if args.profile:
                shared = yaml.safe_load((PARAMS_DIR / args.profile / "_all.yaml").read_text()) or {}
                sizes = {key: shared.get(f"fid_{key}", value) for key, value in sizes.items()}
            prepare(device, **sizes, inception_source=args.inception_source, log=print)
            return 0
        if len(args.paths) != 2:
            parser.error("expected two paths (PATH_A PATH_B), or --prepare")
        ev = Evaluator(device, n_inception=0, n_classifier=0, batch_size=args.batch_size,
                       inception_source=args.inception_source, log=log)
        if args.save_stats:
            saved = save_statistics(args.paths[0], args.paths[1], args.features, ev)
            print(f"statistics of {saved['dims']} {args.features} features written to {saved['path']}")
            return 0
        result = compare_paths(args.paths[0], args.paths[1], args.features, metrics, ev, log)
    except (ValueError, AssetError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    _print_result(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
