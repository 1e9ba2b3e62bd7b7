"""Batch wall time with several notebook runs at once: the smoke batch (every notebook for one
seed, then the summary) with ``--jobs N`` against ``--jobs 1``, back to back in one process,
each into a fresh reports folder (no checkpoint reused). Each run on CPU computes with the same
number of threads either way (``executors.CPU_THREADS``), so both give the same numbers and
the ratio is the gain from using the cores side by side.

    python -m nbhelpers.bench batch [--device cpu]
    python -m nbhelpers.bench.batch [--jobs 2] [--seeds 0]
"""
import argparse
import tempfile
import time

from nbhelpers.batch import main as batch


def timed_batch(jobs: int, seeds: str, device: str) -> float:
    """Wall seconds of one smoke batch with ``jobs`` runs at once (assertion if a run failed)."""
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as folder:
        override = [] if device == "auto" else ["--set", f"device={device}"]
        started = time.perf_counter()
        status = batch.main(["--profile", "smoke", "--seeds", seeds, "--jobs", str(jobs), "--reports-dir", folder, *override])
        seconds = time.perf_counter() - started
    assert status == 0, f"the smoke batch with --jobs {jobs} failed (exit status {status})"
    return seconds


def main(device: str = "auto", jobs: int = 2, seeds: str = "0") -> dict:
    sequential = timed_batch(1, seeds, device)
    parallel = timed_batch(jobs, seeds, device)
    result = {"seeds": seeds, "jobs": jobs, "sequential_seconds": sequential, "parallel_seconds": parallel,
              "ratio": sequential / parallel}
    print(f"\nsmoke batch, seeds {seeds}, device {device}:")
    print(f"  --jobs 1             : {sequential:7.1f} s")
    print(f"  --jobs {jobs:<14}: {parallel:7.1f} s")
    print(f"  speed-up (wall clock): {result['ratio']:7.2f}x")
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m nbhelpers.bench.batch", description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--seeds", default="0")
    args = parser.parse_args()
    main(args.device, args.jobs, args.seeds)
