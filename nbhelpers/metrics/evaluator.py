"""The ``Evaluator``: FID, KID, improved precision/recall, density/coverage and class coverage of
generated MNIST digits against the MNIST test set, features computed once per sample set.

What each number is lives in its own module, and this one puts them together:

- ``distances``: the Frechet distance (FID) and the kernel MMD (KID) of two feature sets;
- ``prdc``: improved precision/recall and density/coverage of two feature sets;
- ``features``: the two extractors (``inception``: pool3 of the TF Inception-v3 that published
  FIDs use; ``classifier``: the project's MNIST CNN), batched extraction, the cached MNIST
  test-set reference;
- ``coverage``: which digits the classifier sees in a sample set.

Inception and classifier FIDs are on different scales and never share a column. Every row
says which extractor, how many samples N and which reference produced it; rows with N below
the feature dimension carry ``"biased": true``.

Use::

    ev = Evaluator(run.device, n_inception=p.fid_n_inception, n_classifier=p.fid_n_classifier,
                   ref_n_inception=p.fid_ref_n_inception, ref_n_classifier=p.fid_ref_n_classifier)
    result = ev.evaluate(samples)        # {"fid": [row, row], "kid": {...}, "class_coverage": {...}}
    metrics.update_model("vae", **result)
    tables.fid_table({"VAE prior": result, ...})

Its tables and curves are ``tables``; ``caches.prepare`` fills the caches it reads before a
batch; the command line (``python -m nbhelpers.fid``, pytorch-fid's interface) is ``__main__``.
"""
import warnings

import torch

from nbhelpers import clock
from nbhelpers.device import pick_device
from nbhelpers.metrics import coverage
from nbhelpers.metrics.distances import (
    KID_BOOTSTRAPS,
    KID_SUBSET_SIZE,
    KID_SUBSETS,
    fid_of_features,
    kid,
    kid_bootstrap_se,
    kid_subset_size,
)
from nbhelpers.metrics.features import (
    FEATURE_DIMS,
    FEATURES,
    MNIST_TEST_SIZE,
    batch_size as default_batch_size,
    extract,
    load_extractor,
    reference,
)
from nbhelpers.metrics.images import check_images
from nbhelpers.metrics.prdc import fidelity_diversity as prdc_values, real_squared_radii
from nbhelpers.notes import ReportNote

# Improved precision/recall: k = 3 (Kynkaanniemi et al. 2019); density/coverage: k = 5 (Naeem et
# al. 2020). Both papers measure with 10k or more samples a side; fewer shrink every k-NN ball's
# neighbours less and shift the values, so such rows are flagged like small-N FIDs.
PRDC_K = {"precision_recall": 3, "density_coverage": 5}
PRDC_VALUES = {"precision_recall": ("precision", "recall"), "density_coverage": ("density", "coverage")}
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
        self._extractors, self._memo, self._real_radii = {}, {}, {}

    # -- what produces the features
    def _extractor(self, features: str):
        if features not in self._extractors:
            with clock.phase(features):   # loading the weights is this extractor's time too
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
        with clock.phase(features):
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
        with clock.phase(features):   # its statistics too, when not cached yet
            return reference(info["tag"], self.ref_n[features], lambda images: self.extract(images, features))

    # -- metrics
    def _row(self, features: str, n: int, ref: dict) -> dict:
        """What every metric row names: the features, the weights that made them (sha256
        prefix), N and the reference set."""
        _, info = self._extractor(features)
        return {"features": features, "weights": info["sha256"][:16], "n": n, "ref": ref["ref"]}

    @clock.phase("evaluation")
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

    @clock.phase("evaluation")
    def kid(self, images: torch.Tensor, features: str = "inception") -> dict:
        """{"features", "weights", "n", "ref", "mean", "std", "subsets", "subset_size", "full", "se",
        "bootstraps"}: ``mean`` and ``std`` over random subsets (``distances.kid``); ``full``, the
        estimate on all rows, and ``se``, its bootstrap standard error over the generated samples with
        the reference held fixed (``distances.kid_bootstrap_se``, ``bootstraps`` draws from its own
        seeded generator: the global random state is not touched). ``std`` is the spread of one
        subset's KID, not a standard error; ``se`` is the error that the finite sample set adds."""
        feats = self.features(images, features)
        ref = self.reference(features)
        mean, std = kid(feats, ref["features"], self.kid_subsets, self.kid_subset_size)
        full, se = kid_bootstrap_se(feats, ref["features"], KID_BOOTSTRAPS)
        return {**self._row(features, len(feats), ref), "mean": mean, "std": std, "subsets": self.kid_subsets,
                "subset_size": kid_subset_size(len(feats), len(ref["features"]), self.kid_subset_size),
                "full": full, "se": se, "bootstraps": KID_BOOTSTRAPS}

    @clock.phase("evaluation")
    def fidelity_diversity(self, images: torch.Tensor, features: str = "classifier") -> dict:
        """Improved precision/recall (k = 3) and density/coverage (k = 5) of the first n images
        against the reference (``prdc``; the reference is the real set):
        {"precision_recall": row, "density_coverage": row}, each row {"features", "n", "ref",
        "k", its two values} (+ "biased": True below ``PRDC_MIN_N`` samples on either side)."""
        feats = self.features(images, features)
        ref = self.reference(features)
        real = ref["features"].to(feats.device)
        if features not in self._real_radii:   # the reference's radii: the same for every sample set
            self._real_radii[features] = real_squared_radii(real, PRDC_K.values())
        values = prdc_values(real, feats, PRDC_K["precision_recall"], PRDC_K["density_coverage"],
                             real_r2=self._real_radii[features])
        result = {}
        for name, k in PRDC_K.items():
            row = {**self._row(features, len(feats), ref), "k": k, **{key: values[key] for key in PRDC_VALUES[name]}}
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

    def predictions(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(predicted digit, its softmax probability) for every image, from one classifier pass:
        the digit is ``predict``'s (the largest logit), the probability the softmax's largest."""
        images = check_images(images, grey_28=True)
        model, _ = self.classifier()
        logits = self.extract(images, "classifier", fn=model)
        return logits.argmax(1), logits.softmax(1).amax(1)

    def class_coverage(self, images: torch.Tensor) -> dict:
        """Predicted-class counts of the first n_classifier images, all of them and those predicted
        with ``coverage.CONFIDENT_PROBABILITY`` or more (``coverage.class_coverage``). The
        logits come from the classifier features of these images (``features``: reused when an
        FID just computed them), through the classifier's head alone."""
        n = self.n["classifier"] or len(images)
        if len(images) < n:
            raise ValueError(f"class coverage: got {len(images)} images but n_classifier is {n}")
        if self.n["classifier"] == 0:   # no classifier features here: the whole network on every image
            labels, confidence = self.predictions(images)
        else:
            logits = self.logits_of_features(self.features(images, "classifier"))
            labels, confidence = logits.argmax(1), logits.softmax(1).amax(1)
        return coverage.class_coverage(labels, confidence=confidence)

    @torch.inference_mode()
    def logits_of_features(self, features: torch.Tensor) -> torch.Tensor:
        """The classifier's logits [N, 10] from its features [N, 128] (``features``), the same
        numbers bit for bit as its whole forward pass in ``extract``: the head is applied to the
        batches that ``extract`` formed (the features' float32 rows are the body's output)."""
        model, _ = self.classifier()
        with clock.phase("classifier"):
            return torch.cat([model.head(batch) for batch in features.split(self.batch_size["classifier"])])

    @clock.phase("evaluation")
    def evaluate(self, images_or_sampler, epoch: int | None = None, kid: bool = True,
                 coverage: bool = True, prdc: bool = True, inception: bool = True) -> dict:
        """Every metric of one sample set, features computed once:
        {"fid": [inception row, classifier row], "kid": {...}, "class_coverage": {...},
        "precision_recall": {...}, "density_coverage": {...}} (the last two on classifier features).

        ``images_or_sampler``: images, or a function ``n -> images`` called once for
        max(n_inception, n_classifier) samples. Extractors with n = 0 are skipped, and Inception
        without ``inception`` (the KID is then the classifier's).
        """
        kinds = [k for k in FEATURES if self.n[k] > 0 and (inception or k != "inception")]
        if not kinds:
            raise ValueError("nothing to evaluate: " + ("n_inception and n_classifier are both 0" if inception
                                                        else "n_classifier is 0 and Inception is left out"))
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
