"""Precision / recall and density / coverage (``nbhelpers.metrics.prdc``): seconds for 10k vs 10k
random 128-d features (the classifier's feature size), and, on a smaller size, the same
four values and the time of a plain numpy brute force (full distance matrices, ``np.sort``)
for comparison. Then the way ``Evaluator.fidelity_diversity`` scores a sample set against a
reference whose radii it keeps (``prdc.fidelity_diversity``: one pass for all four, the real
radii computed once) against the two functions, in alternating rounds, the four values
checked equal every round. Run: ``python -m nbhelpers.bench prdc`` (or ``python -m
nbhelpers.bench.prdc --n 10000 --n-numpy 2000 --rounds 3``).
"""
import argparse
import time

import numpy as np
import torch

from nbhelpers.bench.evaluation import alternate, old_against_new
from nbhelpers.device import pick_device
from nbhelpers.metrics import prdc


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def numpy_brute_force(real: np.ndarray, fake: np.ndarray, k_pr: int = 3, k_dc: int = 5) -> dict:
    """The four metrics from whole N x N float64 distance matrices and fully sorted rows."""
    def dist(a, b):
        return np.sqrt(np.clip((a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T, 0, None))
    rr, ff, rf = dist(real, real), dist(fake, fake), dist(real, fake)
    rr_sorted, ff_sorted = np.sort(rr, axis=1), np.sort(ff, axis=1)  # column 0: the point itself
    r_pr, f_pr, r_dc = rr_sorted[:, k_pr], ff_sorted[:, k_pr], rr_sorted[:, k_dc]
    inside = rf <= r_dc[:, None]
    return {"precision": (rf <= r_pr[:, None]).any(0).mean(), "recall": (rf <= f_pr[None, :]).any(1).mean(),
            "density": inside.sum() / (k_dc * len(fake)), "coverage": inside.any(1).mean()}


def ours(real, fake, device) -> tuple[dict, float, float]:
    """(values, precision_recall seconds, density_coverage seconds)."""
    _sync(device)
    started = time.perf_counter()
    values = prdc.precision_recall(real, fake)
    _sync(device)
    pr_s = time.perf_counter() - started
    started = time.perf_counter()
    values.update(prdc.density_coverage(real, fake))
    _sync(device)
    return values, pr_s, time.perf_counter() - started


def kept_radii_against_two_functions(real, fake, rounds: int) -> float:
    """Process CPU-seconds of one more fake set scored against ``real``: the two functions (old)
    against one pass with the real radii kept (new), alternating (``evaluation.alternate``), the
    values checked equal every round; prints and returns the ratio of the medians, old / new."""
    started = time.process_time()
    kept = prdc.real_squared_radii(real, (3, 5))
    once = time.process_time() - started

    def identical(results):
        if results["old"] != results["new"]:
            raise AssertionError(f"the one pass differs from the two functions:\n  {results['old']}\n"
                                 f"  {results['new']}")

    def two_functions():
        return {**prdc.precision_recall(real, fake, k=3), **prdc.density_coverage(real, fake, k=5)}

    seconds = alternate({"old": two_functions,
                         "new": lambda: prdc.fidelity_diversity(real, fake, k_pr=3, k_dc=5, real_r2=kept)},
                        rounds, identical)
    return old_against_new(f"one more sample set against the same reference, two functions (old) against one pass "
                           f"with the kept real radii (new; the radii once per reference: {once:.2f} s)", seconds,
                           "values identical")


def _fmt(values: dict) -> str:
    return "  ".join(f"{name} {values[name]:.4f}" for name in ("precision", "recall", "density", "coverage"))


def main(device: str = "auto", n: int = 10_000, n_numpy: int = 2_000, dim: int = 128, rounds: int = 3) -> dict:
    device = pick_device(device)
    generator = torch.Generator().manual_seed(0)
    real, fake = (torch.randn(n, dim, generator=generator).to(device) for _ in range(2))
    print(f"prdc on {device} ({torch.get_num_threads()} torch threads), N = {n} real vs {n} fake, D = {dim}, "
          f"chunks of {prdc.CHUNK_SIZE} rows", flush=True)
    ours(real[:256], fake[:256], device)  # warm-up: first calls allocate / load kernels
    values, pr_s, dc_s = ours(real, fake, device)
    print(f"  precision_recall (k=3)   : {pr_s:8.2f} s")
    print(f"  density_coverage (k=5)   : {dc_s:8.2f} s")
    print(f"  {_fmt(values)}")

    small_real, small_fake = real[:n_numpy], fake[:n_numpy]
    small, small_pr_s, small_dc_s = ours(small_real, small_fake, device)
    started = time.perf_counter()
    reference = numpy_brute_force(small_real.double().cpu().numpy(), small_fake.double().cpu().numpy())
    numpy_s = time.perf_counter() - started
    same = all(small[name] == reference[name] for name in small)
    print(f"N = {n_numpy} per set: ours {small_pr_s + small_dc_s:.3f} s (both calls), "
          f"numpy brute force {numpy_s:.3f} s (all four), ratio {numpy_s / (small_pr_s + small_dc_s):.1f}x; "
          f"values {'identical' if same else 'DIFFER'}")
    if not same:
        print(f"  ours : {_fmt(small)}\n  numpy: {_fmt(reference)}")
    kept_ratio = kept_radii_against_two_functions(real, fake, rounds)
    return {"n": n, "precision_recall_s": pr_s, "density_coverage_s": dc_s, **values,
            "n_numpy": n_numpy, "numpy_s": numpy_s, "ours_small_s": small_pr_s + small_dc_s, "numpy_agrees": same,
            "kept_radii_ratio": kept_ratio}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m nbhelpers.bench.prdc", description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--n", type=int, default=10_000, help="features per set")
    parser.add_argument("--n-numpy", type=int, default=2_000, help="features per set for the numpy comparison")
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of the kept-radii comparison")
    args = parser.parse_args()
    main(args.device, args.n, args.n_numpy, args.dim, args.rounds)
