"""GAN training throughput: our engine (``nbhelpers.models.gan.loop.train``) against the textbook loop
(torchvision dataset + DataLoader, pytorch/examples DCGAN style) with the same networks, the
same objective (non-saturating GAN), optimiser, batch size and number of images, measured back
to back in one process, one run each.

Where the engine's speed comes from: images resident on the device and sliced by a
permutation (no per-sample PIL/ToTensor/collate work), channels-last convolutions, D frozen
during the generator update (no D weight gradients), one D pass over real and fake
together when D has no BatchNorm, fused Adam, no per-step host synchronisation.

Images/s are wall-clock; CPU-seconds per image are printed too because a shared machine's
wall clock is noisy (other processes), while process CPU time is not.
On CUDA it also compares the engine's eager step with ``GanConfig(compile=True)``. With
``--dtype bfloat16`` it also times the engine with ``GanConfig(bf16_autocast=True)`` against its
fp32 step: interleaved rounds, each a fresh run from the same initial weights, the medians
compared (a deviation the report's runs do not take unless a profile declares it).

    python -m nbhelpers.bench.gan [--device cpu] [--images 8192] [--batch-size 64] [--threads 2]
                                  [--dtype bfloat16] [--rounds 3]
"""
import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Subset
from torchvision import datasets, transforms

from nbhelpers import data
from nbhelpers.device import pick_device
from nbhelpers.models import gan
from nbhelpers.models.gan.losses import NonSaturatingGAN
from nbhelpers.models.gan.nets import Discriminator, Generator
from nbhelpers.paths import data_dir

LR, BETAS = 2e-4, (0.5, 0.999)


def _networks(device, seed: int = 0):
    torch.manual_seed(seed)
    return Generator().to(device), Discriminator().to(device)


def _timed(device, work) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) of ``work()``."""
    if device.type == "cuda":
        torch.cuda.synchronize()
    wall, cpu = time.perf_counter(), time.process_time()
    work()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - wall, time.process_time() - cpu


def plain_dataloader_loop(device, images: int, batch_size: int) -> None:
    """The textbook loop: DataLoader batches, D on real then on fake, G update, .item() logs."""
    to_tanh_range = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])
    dataset = datasets.MNIST(str(data_dir()), train=True, download=False, transform=to_tanh_range)
    loader = DataLoader(Subset(dataset, range(images)), batch_size=batch_size, shuffle=True, drop_last=True)
    generator, discriminator = _networks(device)
    opt_g = torch.optim.Adam(generator.parameters(), lr=LR, betas=BETAS)
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=LR, betas=BETAS)
    ones = torch.ones(batch_size, device=device)
    zeros = torch.zeros(batch_size, device=device)
    log = []
    for real, _ in loader:
        real = real.to(device)
        discriminator.zero_grad()
        loss_real = F.binary_cross_entropy_with_logits(discriminator(real), ones)
        loss_real.backward()
        fake = generator(torch.randn(batch_size, generator.latent_dim, device=device))
        loss_fake = F.binary_cross_entropy_with_logits(discriminator(fake.detach()), zeros)
        loss_fake.backward()
        opt_d.step()
        generator.zero_grad()
        loss_g = F.binary_cross_entropy_with_logits(discriminator(fake), ones)
        loss_g.backward()
        opt_g.step()
        log.append(((loss_real + loss_fake).item(), loss_g.item()))


def engine_loop(device, images: int, batch_size: int, compile: bool = False,
                bf16_autocast: bool = False) -> gan.GanHistory:
    train_x, _ = data.load_mnist("train", device, limit=images)
    generator, discriminator = _networks(device)
    config = gan.GanConfig(epochs=1, batch_size=batch_size, lr_generator=LR, lr_discriminator=LR,
                           betas=BETAS, compile=compile, bf16_autocast=bf16_autocast)
    return gan.train(generator, discriminator, NonSaturatingGAN(), train_x, config, log=None)


def _line(label: str, images: int, wall: float, cpu: float) -> str:
    return (f"  {label:<34}: {images / wall:8,.0f} images/s  ({60000 * wall / images:6.1f} s per 60k epoch, "
            f"{1000 * cpu / images:.2f} CPU-ms/image)")


def precision_comparison(device, images: int, batch_size: int, rounds: int) -> dict:
    """The engine's fp32 step against its bf16-autocast step: ``rounds`` interleaved pairs of
    runs after an untimed warm-up of each (kernel selection), the median wall and CPU seconds of
    each, and their ratios (fp32 over bf16)."""
    for autocast in (False, True):
        engine_loop(device, 2 * batch_size, batch_size, bf16_autocast=autocast)
    timings = {"fp32": [], "bf16 autocast": []}
    for _ in range(rounds):
        for name, autocast in (("fp32", False), ("bf16 autocast", True)):
            timings[name].append(_timed(device, lambda: engine_loop(device, images, batch_size, bf16_autocast=autocast)))
    medians = {name: (statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs))
               for name, runs in timings.items()}
    for name, (wall, cpu) in medians.items():
        print(_line(f"engine, {name} (median of {rounds})", images, wall, cpu), flush=True)
    (wall32, cpu32), (wall16, cpu16) = medians["fp32"], medians["bf16 autocast"]
    result = {"rounds": rounds, "fp32_images_per_second": images / wall32, "bf16_images_per_second": images / wall16,
              "bf16_vs_fp32_wall": wall32 / wall16, "bf16_vs_fp32_cpu": cpu32 / cpu16}
    print(f"  bf16 autocast vs fp32 (wall clock): {result['bf16_vs_fp32_wall']:8.2f}x")
    print(f"  bf16 autocast vs fp32 (CPU time)  : {result['bf16_vs_fp32_cpu']:8.2f}x")
    return result


def main(device: str = "auto", images: int | None = None, batch_size: int = 64, dtype: str = "float32",
         rounds: int = 3) -> dict:
    device = pick_device(device)
    images = images or (60_000 if device.type == "cuda" else 8192)
    data.load_mnist("train", device)  # the one-off disk read is not part of either loop
    threads = torch.get_num_threads()
    print(f"GAN training (non-saturating, Adam) on {device}, {images} images, batch {batch_size}, "
          f"{threads} CPU threads", flush=True)
    plain_wall, plain_cpu = _timed(device, lambda: plain_dataloader_loop(device, images, batch_size))
    print(_line("torchvision DataLoader loop", images, plain_wall, plain_cpu), flush=True)
    ours_wall, ours_cpu = _timed(device, lambda: engine_loop(device, images, batch_size))
    print(_line("nbhelpers.models.gan.loop engine", images, ours_wall, ours_cpu), flush=True)
    result = {"device": str(device), "images": images, "batch_size": batch_size, "threads": threads,
              "plain_images_per_second": images / plain_wall, "ours_images_per_second": images / ours_wall,
              "ratio": plain_wall / ours_wall, "cpu_time_ratio": plain_cpu / ours_cpu}
    print(f"  speed-up (wall clock)             : {result['ratio']:8.2f}x")
    print(f"  speed-up (process CPU time)       : {result['cpu_time_ratio']:8.2f}x")
    if device.type == "cuda":
        compiled_wall, compiled_cpu = _timed(device, lambda: engine_loop(device, images, batch_size, compile=True))
        print(_line("engine, compiled (incl. compiling)", images, compiled_wall, compiled_cpu))
        warm_wall, warm_cpu = _timed(device, lambda: engine_loop(device, images, batch_size, compile=True))
        print(_line("engine, compiled (cache warm)", images, warm_wall, warm_cpu))
        result.update(compiled_images_per_second=images / warm_wall, compiled_vs_eager=ours_wall / warm_wall)
        print(f"  compiled vs eager                 : {result['compiled_vs_eager']:8.2f}x")
    if dtype == "bfloat16":
        result["precision"] = precision_comparison(device, images, batch_size, rounds)
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m nbhelpers.bench.gan", description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda")
    parser.add_argument("--images", type=int, default=None, help="images per run (default: 8192 CPU, 60000 CUDA)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32",
                        help="bfloat16: also time the engine's step under bf16 autocast against fp32")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved fp32 / bf16 pairs (with --dtype bfloat16)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    main(args.device, args.images, args.batch_size, args.dtype, args.rounds)
