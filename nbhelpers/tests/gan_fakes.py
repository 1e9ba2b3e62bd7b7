"""Small stand-ins shared by the GAN study tests: fake images, an evaluator without networks,
records shaped like ``gan_study.record``'s, and an in-memory metrics writer."""
import torch

from nbhelpers.environment import BatchContext


def fake_mnist(count: int = 96, seed: int = 0) -> torch.Tensor:
    return torch.rand(count, 1, 28, 28, generator=torch.Generator().manual_seed(seed))


class StubEvaluator:
    """Stands in for evaluator.Evaluator in ``gan_study``: a fake FID that falls with the epoch and a
    fixed coverage (eight digits, two each), without any network."""

    n = {"classifier": 16, "inception": 0}

    def fid(self, samples, features="classifier", epoch=None):
        row = {"features": features, "n": self.n[features] or 16, "ref": "stub", "value": 100.0 / (epoch or 1)}
        return {**row, "epoch": epoch} if epoch is not None else row

    def class_coverage(self, samples):
        return {"counts": [2] * 8 + [0, 0], "n": 16, "covered": 8, "entropy": 3.0, "max_entropy": 3.32}

    def evaluate(self, sampler):
        images = sampler(16)
        return {"fid": [self.fid(images, "classifier")], "class_coverage": self.class_coverage(images)}


class MemoryMetrics:
    """``records.Metrics``' model interface, in memory, of an interactive run."""

    batch = BatchContext()

    def __init__(self):
        self.models = {}

    def update_model(self, name, **fields):
        self.models.setdefault(name, {}).update(fields)
        return self.models[name]


def gan_record(values, epochs=None, n=100, final=None, counts=None, ref="mnist-test", **extra):
    """A model entry shaped like gan_study.record's: a classifier FID curve, optional final
    rows (Inception, classifier), KID, coverage and its history."""
    epochs = epochs or list(range(1, len(values) + 1))
    rows = [{"features": "classifier", "n": n, "ref": ref, "value": v, "epoch": e} for e, v in zip(epochs, values)]
    if final is not None:
        rows += [{"features": "inception", "n": 200, "ref": "mnist-test[:1000]", "value": final[0], "biased": True},
                 {"features": "classifier", "n": n, "ref": ref, "value": final[1]}]
    counts = counts or [10] * 10
    entry = {"fid": rows, "kid": {"features": "inception", "mean": 0.01, "std": 0.001},
             "class_coverage": {"counts": counts, "n": sum(counts), "covered": sum(c >= 0.01 * sum(counts) for c in counts)},
             "coverage_history": {str(e): [c / sum(counts) for c in counts] for e in epochs},
             "epochs_trained": epochs[-1], "training_seconds": 1.0}
    return {**entry, **extra}


def curve(values, n=10000, ref="mnist-test", features="classifier"):
    """Training-time FID rows, epochs 1, 2, ..."""
    return [{"features": features, "n": n, "ref": ref, "value": v, "epoch": e} for e, v in enumerate(values, 1)]
