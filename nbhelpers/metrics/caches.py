"""The files every evaluation reads, fetched and computed once before any run needs them: the
Inception weights (verified), the metric classifier (trained when absent), the reference features
of the MNIST test set and the square root of their covariance (``features.reference``).
The command line's ``--prepare`` and the batch's first step call ``prepare``.
"""
import time

from nbhelpers.metrics.evaluator import Evaluator
from nbhelpers.metrics.features import FEATURE_DIMS, MNIST_TEST_SIZE


def prepare(device="cpu", ref_n_inception: int = 0, ref_n_classifier: int = MNIST_TEST_SIZE,
            inception_source: str | None = None, log=print) -> dict:
    """Fetch and verify the Inception weights, train/cache the classifier and cache the
    classifier's reference features (Inception's too when ``ref_n_inception`` > 0) and what is
    derived from them: the square root of their covariance, which an FID of at least D samples
    a side needs, so that a cache that cannot take it fails here, not in a run after its training."""
    ev = Evaluator(device, ref_n_inception=max(ref_n_inception, 2), ref_n_classifier=ref_n_classifier,
                   inception_source=inception_source, log=log)
    info = ev.feature_extractors()
    log(f"Inception: {info['inception']['source']}, sha256 {info['inception']['sha256']} (verified)")
    log(f"classifier: test accuracy {info['classifier']['test_accuracy']:.2%}, key {info['classifier']['key']}")
    kinds = ["classifier"] + (["inception"] if ref_n_inception > 0 else [])
    for kind in kinds:
        started = time.time()
        ref = ev.reference(kind)
        if ev.ref_n[kind] >= FEATURE_DIMS[kind]:
            ref["sqrt_sigma"]()
        log(f"reference {kind} statistics of {ref['ref']}: ready ({time.time() - started:.1f} s)")
    return info
