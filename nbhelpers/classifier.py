"""The metric classifier: a small MNIST CNN whose features give a fast FID and class coverage.

Inception-v3 never saw handwritten digits and costs ~6 GFLOP an image; a CNN trained on
MNIST itself sees what distinguishes digits and costs ~4 MFLOP. Its penultimate layer (128
values) gives a "classifier FID" (on a different scale from Inception FID: never compare the
two) and its predictions give the class coverage of a set of generated digits (``coverage``).

The network is trained once per machine on the 60k MNIST training images and cached under
``cache_dir()/classifier/``, in a file named by a hash of its training configuration; a
change of configuration trains a new one. It must reach ``MIN_TEST_ACCURACY`` on the 10k
test images, or it is not cached and an error says so.
"""
import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .assets import atomic_save
from .data import CANONICAL_MD5, load_mnist
from .paths import cache_dir

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


def cache_path(config: TrainConfig = TrainConfig()):
    return cache_dir() / "classifier" / f"mnist-cnn-{config.key()}.pt"


def load_or_train(device: str | torch.device = "cpu", config: TrainConfig = TrainConfig(),
                  log=print) -> tuple[MetricCNN, dict]:
    """The cached classifier for ``config`` (trained now if this machine has none), in eval mode.

    The record holds ``test_accuracy`` (>= MIN_TEST_ACCURACY, checked), ``train_time_s``,
    ``config``, ``key`` and ``path``.
    """
    path = cache_path(config)
    if path.exists():
        try:  # weights_only: tensors and plain values (older files hold a TorchVersion string)
            with torch.serialization.safe_globals([torch.torch_version.TorchVersion]):
                saved = torch.load(path, map_location="cpu", weights_only=True)
            record = dict(saved["record"], torch=str(saved["record"].get("torch")))
        except Exception as error:
            raise RuntimeError(f"{path} cannot be read ({type(error).__name__}); delete it to retrain") from error
        if record.get("key") != config.key():
            raise RuntimeError(f"{path} holds a classifier for another configuration; delete it and run again")
    else:
        log(f"training the metric classifier (once per machine) -> {path}")
        model, record = train(config, device, log=log)
        if record["test_accuracy"] < MIN_TEST_ACCURACY:
            raise RuntimeError(f"the metric classifier reached only {record['test_accuracy']:.2%} test accuracy "
                               f"(needs {MIN_TEST_ACCURACY:.0%}); not cached. Check the training config {config}.")
        saved = {"state_dict": {k: v.cpu() for k, v in model.state_dict().items()}, "record": record}
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_save(path, lambda handle: torch.save(saved, handle))
        log(f"classifier: test accuracy {record['test_accuracy']:.2%}, trained in {record['train_time_s']:.0f} s")
    model = MetricCNN()
    model.load_state_dict(saved["state_dict"])
    return model.to(device).eval(), dict(record, path=str(path))
