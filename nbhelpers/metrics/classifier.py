"""The metric classifier: a small MNIST CNN whose features give a fast FID and class coverage.

Inception-v3 never saw handwritten digits and costs ~6 GFLOP an image; a CNN trained on
MNIST itself sees what distinguishes digits and costs ~4 MFLOP. Its penultimate layer (128
values) gives a "classifier FID" (on a different scale from Inception FID: never compare the
two) and its predictions give the class coverage of a set of generated digits (``coverage``).

The weights are a fixed asset: trained by ``train()`` on the 60k MNIST training images and
committed under ``nbhelpers/metrics/weights/`` with their sha256, so that every machine scores samples
with the same network. ``--retrain`` trains this machine's own copy (cached under
``cache_dir()/classifier/``, named by a hash of its training configuration), whose numbers are
on another scale. A classifier must reach ``MIN_TEST_ACCURACY`` on the 10k test images.
"""
import argparse
import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from nbhelpers.assets import AssetError
from nbhelpers.data import CANONICAL_MD5, load_mnist
from nbhelpers.environment import choice
from nbhelpers.files import file_digest, recorded_mismatch, save_recorded
from nbhelpers.paths import cache_dir

MIN_TEST_ACCURACY = 0.99
FEATURE_DIM = 128


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides the trained weights; its hash names the cache file."""
    arch: str = "strided-cnn3-bn-128"       # bump when MetricCNN changes
    epochs: int = 3
    batch_size: int = 128
    lr: float = 2e-3                # AdamW, one-cycle: linear warm-up, cosine decay to 0
    warmup_fraction: float = 0.1
    weight_decay: float = 1e-4
    seed: int = 0
    train_images_md5: str = CANONICAL_MD5["train-images-idx3-ubyte"]

    def key(self) -> str:
        text = json.dumps(asdict(self), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


class MetricCNN(nn.Module):
    """Three strided conv layers (32, 64, 64 channels; 28 -> 14 -> 7 -> 4 pixels), then 128
    features. Strides instead of pooling keep its training short on a CPU (3 epochs with the
    default config; the cached record holds the measured test accuracy and time).

    ``features(x)`` is the penultimate layer (after ReLU) used for FID; ``forward(x)``
    gives the 10 class logits.
    """

    def __init__(self):
        super().__init__()

        def conv(c_in, c_out, kernel):
            return [nn.Conv2d(c_in, c_out, kernel, stride=2, padding=kernel // 2, bias=False),
                    nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]

        self.body = nn.Sequential(*conv(1, 32, 5), *conv(32, 64, 3), *conv(64, 64, 3), nn.Flatten(),
                                  nn.Linear(64 * 4 * 4, FEATURE_DIM, bias=False),
                                  nn.BatchNorm1d(FEATURE_DIM), nn.ReLU(inplace=True))
        self.head = nn.Linear(FEATURE_DIM, 10)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def _lr_at(step: int, total: int, config: TrainConfig) -> float:
    warmup = max(1, int(config.warmup_fraction * total))
    if step < warmup:
        return config.lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return config.lr * 0.5 * (1 + math.cos(math.pi * progress))


@torch.inference_mode()
def predict(model: MetricCNN, images: torch.Tensor, batch_size: int = 2000) -> tuple[torch.Tensor, torch.Tensor]:
    """(features [N, 128] float32, predicted labels [N]) on the images' device, in eval mode."""
    model.eval()
    feats, labels = [], []
    for start in range(0, len(images), batch_size):
        f = model.features(images[start:start + batch_size])
        feats.append(f)
        labels.append(model.head(f).argmax(1))
    if not feats:
        return torch.empty(0, FEATURE_DIM, device=images.device), torch.empty(0, dtype=torch.long)
    return torch.cat(feats), torch.cat(labels)


def train(config: TrainConfig = TrainConfig(), device: str | torch.device = "cpu", log=print) -> tuple[MetricCNN, dict]:
    """Train from scratch on MNIST train; return the model and its record (accuracy, time)."""
    device = torch.device(device)
    generator = torch.Generator().manual_seed(config.seed)
    torch.manual_seed(config.seed)  # parameter initialisation
    model = MetricCNN().to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    images, labels = load_mnist("train", device)
    steps_per_epoch = math.ceil(len(images) / config.batch_size)
    total = config.epochs * steps_per_epoch
    started, step = time.time(), 0
    for epoch in range(config.epochs):
        model.train()
        order = torch.randperm(len(images), generator=generator).to(device)
        running = 0.0
        for start in range(0, len(images), config.batch_size):
            index = order[start:start + config.batch_size]
            for group in optimizer.param_groups:
                group["lr"] = _lr_at(step, total, config)
            loss = F.cross_entropy(model(images[index]), labels[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            running += loss.item()
            step += 1
        log(f"classifier epoch {epoch + 1}/{config.epochs}: train loss {running / steps_per_epoch:.4f} "
            f"({time.time() - started:.0f} s)")
    train_time = time.time() - started
    test_images, test_labels = load_mnist("test", device)
    _, predicted = predict(model, test_images)
    accuracy = (predicted == test_labels).float().mean().item()
    record = {"test_accuracy": round(accuracy, 4), "train_time_s": round(train_time, 1),
              "train_device": str(device), "config": asdict(config), "key": config.key(),
              "torch": str(torch.__version__)}
    return model.eval(), record


# The weights every machine uses: trained once by ``train()`` with the default TrainConfig
# (``python -m nbhelpers.metrics.classifier --retrain`` on a 2-core CPU, test accuracy 99.26 %) and
# committed with the code, so that classifier features, and every number computed on them,
# mean the same on every machine. Retraining the same config on another machine gives other
# weights (99.23 % on one, 99.27 % on another), hence other classifier FIDs.
SHIPPED_WEIGHTS = Path(__file__).resolve().parent / "weights" / "mnist-cnn-ea3fc8a2ba86a220.pt"
SHIPPED_SHA256 = "dde48a1b317d032924535c50e5a0582c19bf14e684f0f352002c23e18cab12d9"
SOURCES = ("shipped", "retrained")


def cache_path(config: TrainConfig = TrainConfig()):
    return cache_dir() / "classifier" / f"mnist-cnn-{config.key()}.pt"


def _read(path: Path, expected_sha256: str | None = None) -> tuple[dict, str]:
    """The saved {"state_dict", "record"} and the file's sha256 (checked when expected)."""
    digest = file_digest(path)
    if expected_sha256 and digest != expected_sha256:
        raise AssetError(f"{path}: sha256 {digest} is not the shipped weights' {expected_sha256}; the file is "
                         f"damaged: restore it with `git checkout -- {path.name}` from nbhelpers/metrics/weights/")
    try:  # weights_only: tensors and plain values (older files hold a TorchVersion string)
        with torch.serialization.safe_globals([torch.torch_version.TorchVersion]):
            saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise AssetError(f"{path} cannot be read ({type(error).__name__}); delete it to retrain") from error
    return saved, digest


def retrain(device: str | torch.device = "cpu", config: TrainConfig = TrainConfig(), log=print) -> dict:
    """Train the classifier on this machine and cache it (``cache_path``); its record. Its
    features differ from the shipped weights', so are its numbers: on another scale."""
    path = cache_path(config)
    log(f"training the metric classifier on this machine -> {path}")
    model, record = train(config, device, log=log)
    if record["test_accuracy"] < MIN_TEST_ACCURACY:
        raise RuntimeError(f"the metric classifier reached only {record['test_accuracy']:.2%} test accuracy "
                           f"(needs {MIN_TEST_ACCURACY:.0%}); not cached. Check the training config {config}.")
    saved = {"state_dict": {k: v.cpu() for k, v in model.state_dict().items()}, "record": record}
    path.parent.mkdir(parents=True, exist_ok=True)
    save_recorded(path, lambda handle: torch.save(saved, handle))
    log(f"classifier: test accuracy {record['test_accuracy']:.2%}, trained in {record['train_time_s']:.0f} s, "
        f"sha256 {file_digest(path)}")
    return record


def load(device: str | torch.device = "cpu", source: str | None = None, config: TrainConfig = TrainConfig(),
         log=print) -> tuple[MetricCNN, dict]:
    """The metric classifier in eval mode, and its record (``test_accuracy``, ``config``, ``key``,
    ``source``, ``sha256``, ``path``).

    ``source`` (default: $NBH_CLASSIFIER, else "shipped"): "shipped", the committed weights,
    verified by sha256; or "retrained", this machine's own (``retrain``; trained now if there is
    none), whose numbers are on another scale than the shipped weights'."""
    source = source or choice("NBH_CLASSIFIER", "shipped")
    if source not in SOURCES:
        raise ValueError(f"classifier source {source!r}: expected one of {SOURCES}")
    if source == "shipped":
        if config != TrainConfig():
            raise ValueError("the shipped weights are those of the default TrainConfig; use source='retrained'")
        path, expected = SHIPPED_WEIGHTS, SHIPPED_SHA256
    else:
        path, expected = cache_path(config), None
        if not path.exists():
            retrain(device, config, log=log)
        if problem := recorded_mismatch(path):
            raise AssetError(f"{path}: {problem}; not used: retrain it with `python -m nbhelpers.metrics.classifier --retrain`")
    saved, digest = _read(path, expected)
    record = dict(saved["record"], torch=str(saved["record"].get("torch")))
    if record.get("key") != config.key():
        raise AssetError(f"{path} holds a classifier for another configuration; delete it and run again")
    if source == "retrained":
        log(f"classifier: this machine's retrained weights (sha256 {digest[:16]}): classifier-feature numbers are on "
            f"another scale than the shipped weights' ({SHIPPED_SHA256[:16]}) and do not compare with them")
    model = MetricCNN()
    model.load_state_dict(saved["state_dict"])
    return model.to(device).eval(), dict(record, path=str(path), sha256=digest, source=source)


def main(argv=None) -> int:
    """``python -m nbhelpers.metrics.classifier [--retrain]``: show (or retrain) the metric classifier."""
    parser = argparse.ArgumentParser(prog="python -m nbhelpers.metrics.classifier", description=main.__doc__)
    parser.add_argument("--retrain", action="store_true",
                        help="train this machine's own weights (used with NBH_CLASSIFIER=retrained; another scale)")
    args = parser.parse_args(argv)
    if args.retrain:
        retrain()
        print("use them with NBH_CLASSIFIER=retrained; their classifier FIDs do not compare with the shipped weights'")
        return 0
    _, record = load()
    print(f"classifier ({record['source']}): {record['path']}, sha256 {record['sha256']}, "
          f"test accuracy {record['test_accuracy']:.2%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
