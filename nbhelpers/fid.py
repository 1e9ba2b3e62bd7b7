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

    python -m nbhelpers.fid PATH_A PATH_B [--features inception|classifier] [--device cpu] [--batch-size 50]
    python -m nbhelpers.fid --prepare [--profile cpu]   # fetch + verify weights, train the
                                                        # classifier, cache the reference features
"""
import argparse
import sys
import time
import warnings

import torch
import yaml

from . import coverage
from .assets import AssetError
from .distances import KID_SUBSET_SIZE, KID_SUBSETS, fid_of_features, frechet_distance, kid, sqrtm_psd, statistics
from .features import FEATURE_DIMS, FEATURES, MNIST_TEST_SIZE, extract, load_extractor, reference
from .features import batch_size as default_batch_size
from .images import check_images, load_images
from .inception import INCEPTION_SOURCES
from .paths import PARAMS_DIR
from .prdc import density_coverage, precision_recall
from .repro import pick_device

__all__ = ["Evaluator", "SmallSampleWarning", "fid_table", "fid_curves", "prepare", "main", "statistics",
           "sqrtm_psd", "frechet_distance", "fid_of_features", "kid", "check_images", "load_images", "extract",
           "precision_recall", "density_coverage", "FEATURES", "FEATURE_DIMS", "MNIST_TEST_SIZE", "KID_SUBSETS",
           "KID_SUBSET_SIZE"]


class SmallSampleWarning(UserWarning):
    """FID from fewer samples than feature dimensions: rank-deficient covariance, biased value."""


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
                "classifier": {k: record[k] for k in ("test_accuracy", "train_time_s", "key", "config")}}

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
    def fid(self, images: torch.Tensor, features: str = "inception", epoch: int | None = None) -> dict:
        """{"features", "n", "ref", "value"} (+ "epoch"; + "biased": True when n or the
        reference size is below the feature dimension, with a SmallSampleWarning)."""
        feats = self.features(images, features)
        ref = self.reference(features)
        row = {"features": features, "n": len(feats), "ref": ref["ref"], "value": fid_of_features(ref, feats)}
        if epoch is not None:
            row["epoch"] = epoch
        if is_biased(len(feats), len(ref["features"]), features):
            row["biased"] = True
            warnings.warn(f"{features} FID from N={len(feats)} samples against {ref['ref']}: fewer than "
                          f"{FEATURE_DIMS[features]} (the feature dimension), so the covariance is rank-deficient "
                          f"and the value is biased upward; compare it only with FIDs of the same N and reference",
                          SmallSampleWarning, stacklevel=2)
        return row

    def kid(self, images: torch.Tensor, features: str = "inception") -> dict:
        """{"features", "n", "ref", "mean", "std", "subsets", "subset_size"}."""
        feats = self.features(images, features)
        ref = self.reference(features)
        mean, std = kid(feats, ref["features"], self.kid_subsets, self.kid_subset_size)
        return {"features": features, "n": len(feats), "ref": ref["ref"], "mean": mean, "std": std,
                "subsets": self.kid_subsets, "subset_size": min(self.kid_subset_size, len(feats), len(ref["features"]))}

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
                 coverage: bool = True) -> dict:
        """Every metric of one sample set, features computed once:
        {"fid": [inception row, classifier row], "kid": {...}, "class_coverage": {...}}.

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
        records[name] = record
    table = pd.DataFrame.from_dict(records, orient="index")
    for column in table.columns:
        if column.endswith("biased"):
            table[column] = table[column].astype("boolean").fillna(False)
    return table


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


def _fid_of_paths(path_a, path_b, features: str, device, batch_size, log, inception_source=None) -> dict:
    a, b = load_images(path_a), load_images(path_b)
    if a.shape[2:] != b.shape[2:]:
        raise ValueError(f"the two sets differ in image size: {path_a} is {a.shape[3]}x{a.shape[2]}, "
                         f"{path_b} is {b.shape[3]}x{b.shape[2]}")
    for name, images in ((path_a, a), (path_b, b)):
        check_images(images, name=str(name), grey_28=features == "classifier")
    ev = Evaluator(device, n_inception=0, n_classifier=0, batch_size=batch_size,
                   inception_source=inception_source, log=log)
    fa, fb = ev.extract(a, features), ev.extract(b, features)
    if len(fb) > len(fa):  # the N x N route needs the smaller set second
        fa, fb = fb, fa
    mu_a, sigma_a = statistics(fa)
    value = fid_of_features({"mu": mu_a, "sigma": sigma_a}, fb)
    mean, std = kid(fa, fb)
    if min(len(a), len(b)) < FEATURE_DIMS[features]:
        log(f"warning: N < {FEATURE_DIMS[features]}: rank-deficient covariance, the FID is biased")
    return {"fid": value, "kid_mean": mean, "kid_std": std,
            "n_a": len(a), "n_b": len(b), "subset_size": min(KID_SUBSET_SIZE, len(a), len(b))}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m nbhelpers.fid",
        description="FID and KID between two image sets (folders of images or .npz of uint8 'images').")
    parser.add_argument("paths", nargs="*", metavar="PATH", help="two folders or .npz files")
    parser.add_argument("--features", choices=FEATURES, default="inception")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 or auto (cuda if available)")
    parser.add_argument("--batch-size", type=int, default=None, help="Inception batch size (default 50 CPU, 200 CUDA)")
    parser.add_argument("--prepare", action="store_true",
                        help="only fetch/verify the Inception weights, train the classifier, cache references")
    parser.add_argument("--ref-n-inception", type=int, default=0,
                        help="with --prepare: also cache Inception features of this many test images")
    parser.add_argument("--profile", choices=("smoke", "cpu", "full"), default=None,
                        help="with --prepare: take the reference sizes from params/<profile>/_all.yaml")
    parser.add_argument("--inception-source", choices=INCEPTION_SOURCES, default=None,
                        help="where the Inception weights come from (default: $NBH_FID_INCEPTION or auto)")
    args = parser.parse_args(argv)
    log = lambda message: print(message, file=sys.stderr)  # noqa: E731  stdout carries the result
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
        result = _fid_of_paths(args.paths[0], args.paths[1], args.features, device, args.batch_size, log,
                               inception_source=args.inception_source)
    except (ValueError, AssetError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"FID: {result['fid']:.6f}")
    print(f"KID: {result['kid_mean']:.6f} +- {result['kid_std']:.6f} "
          f"({KID_SUBSETS} subsets of {result['subset_size']})")
    print(f"features: {args.features}, N = {result['n_a']} vs {result['n_b']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())