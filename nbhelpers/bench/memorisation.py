"""Nearest training images (``nbhelpers.metrics.memorisation``): seconds per sample set (N real
MNIST test digits against all 60,000 training images, pixel space), side by side with two plain
baselines on the same queries: a loop over queries (one ||q - x||^2 row at a time) and
``torch.cdist`` over the same blocks of training rows. The loop is timed on ``--n-loop`` queries
and scaled to N. Also checks that all three find the same neighbours.
Run: ``python -m nbhelpers.bench.memorisation [--n 1000] [--n-loop 100] [--device cpu]``.
"""
import argparse
import time

import torch

from nbhelpers import data
from nbhelpers.device import pick_device
from nbhelpers.metrics import memorisation


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def _timed(fn, device):
    _sync(device)
    started = time.perf_counter()
    out = fn()
    _sync(device)
    return out, time.perf_counter() - started


@torch.no_grad()
def loop_baseline(queries: torch.Tensor, train: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One query at a time: squared differences to every training image, summed, minimum."""
    q, x = memorisation.flatten(queries), memorisation.flatten(train)
    best = [((x - row).pow(2).sum(1)).min(0) for row in q]
    return torch.stack([b.values for b in best]).double().sqrt(), torch.stack([b.indices for b in best])


@torch.no_grad()
def cdist_baseline(queries: torch.Tensor, train: torch.Tensor, block: int = memorisation.TRAIN_BLOCK):
    """``torch.cdist`` of all queries against each block of training rows, running minimum."""
    q, x = memorisation.flatten(queries), memorisation.flatten(train)
    best = torch.full((len(q),), float("inf"), device=x.device)
    index = torch.zeros(len(q), dtype=torch.long, device=x.device)
    for start in range(0, len(x), block):
        value, arg = torch.cdist(q, x[start:start + block]).min(1)
        better = value < best
        best, index = torch.where(better, value, best), torch.where(better, arg + start, index)
    return best.double(), index


def main(device: str = "auto", n: int = memorisation.DEFAULT_N, n_loop: int = 100) -> dict:
    device = pick_device(device)
    train, _ = data.load_mnist("train", device)
    test, _ = data.load_mnist("test", device)
    queries = memorisation.test_baseline(test, n)
    print(f"memorisation on {device} ({torch.get_num_threads()} torch threads): N = {n} queries against "
          f"{len(train):,} training images, {train[0].numel()} pixels; blocks of {memorisation.QUERY_BLOCK} queries "
          f"x {memorisation.TRAIN_BLOCK} training rows", flush=True)
    memorisation.nearest_neighbours(queries[:64], train)   # warm-up: first calls allocate
    (ours_d, ours_i), ours_s = _timed(lambda: memorisation.nearest_neighbours(queries, train), device)
    (cdist_d, cdist_i), cdist_s = _timed(lambda: cdist_baseline(queries, train), device)
    (loop_d, loop_i), loop_part_s = _timed(lambda: loop_baseline(queries[:n_loop], train), device)
    loop_s = loop_part_s * n / n_loop
    print(f"  ours (float32 products, float64 distances): {ours_s:8.2f} s per set of {n}")
    print(f"  torch.cdist, same blocks                  : {cdist_s:8.2f} s   ratio {cdist_s / ours_s:5.1f}x")
    print(f"  loop over queries (timed on {n_loop}, scaled)  : {loop_s:8.2f} s   ratio {loop_s / ours_s:5.1f}x")
    same_cdist = float((ours_i.cpu() == cdist_i.cpu()).double().mean())
    same_loop = float((ours_i[:n_loop].cpu() == loop_i.cpu()).double().mean())
    gap = float((ours_d[:n_loop].cpu() - loop_d.cpu()).abs().max())
    print(f"  same neighbour as cdist: {same_cdist:.1%} of {n}; as the loop: {same_loop:.1%} of {n_loop} "
          f"(largest distance difference {gap:.2e})")
    return {"n": n, "ours_s": ours_s, "cdist_s": cdist_s, "loop_s": loop_s, "n_loop": n_loop,
            "same_as_cdist": same_cdist, "same_as_loop": same_loop}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m nbhelpers.bench.memorisation", description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--n", type=int, default=memorisation.DEFAULT_N)
    parser.add_argument("--n-loop", type=int, default=100)
    args = parser.parse_args()
    main(device=args.device, n=args.n, n_loop=args.n_loop)
