"""The FID command line, mirroring ``python -m pytorch_fid``::

    python -m nbhelpers.fid PATH_A PATH_B [--features inception|classifier] [--metrics fid,kid,prc,dc]
                            [--dims 2048] [--device cpu] [--batch-size 50]
    python -m nbhelpers.fid --save-stats PATH OUT.npz     # mu, sigma as pytorch-fid writes them
    python -m nbhelpers.fid --prepare [--profile cpu]     # fetch + verify weights, cache the reference features

(``python -m nbhelpers.metrics`` is the same command.) PATH_A is the real set.
"""
import argparse
import sys
from pathlib import Path

import numpy as np
import yaml

from nbhelpers.assets import AssetError
from nbhelpers.device import pick_device
from nbhelpers.files import atomic_save
from nbhelpers.metrics.caches import prepare
from nbhelpers.metrics.distances import KID_SUBSETS, fid_of_features, frechet_distance, kid, kid_subset_size, statistics
from nbhelpers.metrics.evaluator import PRDC_K, Evaluator
from nbhelpers.metrics.features import FEATURE_DIMS, FEATURES, MNIST_TEST_SIZE
from nbhelpers.metrics.images import check_images, load_images
from nbhelpers.metrics.inception import INCEPTION_SOURCES
from nbhelpers.metrics.prdc import density_coverage, precision_recall
from nbhelpers.paths import PARAMS_DIR

CLI_METRICS = ("fid", "kid", "prc", "dc")


def load_statistics(path) -> dict | None:
    """pytorch-fid's statistics file (an .npz with ``mu`` and ``sigma``), or None when ``path``
    holds images instead."""
    path = Path(path)
    if path.suffix != ".npz" or not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as archive:
        if not {"mu", "sigma"} <= set(archive.files) or "images" in archive.files:
            return None
        mu, sigma = np.asarray(archive["mu"], np.float64), np.asarray(archive["sigma"], np.float64)
    if mu.ndim != 1 or sigma.shape != (len(mu), len(mu)):
        raise ValueError(f"{path}: mu {mu.shape} and sigma {sigma.shape} are not statistics of one feature space")
    return {"mu": mu, "sigma": sigma}


def compare_paths(path_a, path_b, features: str, metrics, ev: Evaluator, log) -> dict:
    """The chosen metrics between two image sets (folders or .npz of images); for FID alone, a
    side may be pytorch-fid statistics (.npz of mu, sigma). PATH_A is the real (reference) set
    for precision/recall and density/coverage."""
    stats_a, stats_b = load_statistics(path_a), load_statistics(path_b)
    if (stats_a or stats_b) and set(metrics) != {"fid"}:
        raise ValueError("a statistics file (mu, sigma) gives FID only: use --metrics fid, or pass images")
    dim = FEATURE_DIMS[features]
    for path, given in ((path_a, stats_a), (path_b, stats_b)):
        if given is not None and len(given["mu"]) != dim:
            raise ValueError(f"{path}: statistics of {len(given['mu'])} features, but {features} features have {dim}")
    a = None if stats_a else load_images(path_a)
    b = None if stats_b else load_images(path_b)
    if a is not None and b is not None and a.shape[2:] != b.shape[2:]:
        raise ValueError(f"the two sets differ in image size: {path_a} is {a.shape[3]}x{a.shape[2]}, "
                         f"{path_b} is {b.shape[3]}x{b.shape[2]}")
    for path, images in ((path_a, a), (path_b, b)):
        if images is not None:
            check_images(images, name=str(path), grey_28=features == "classifier")
    fa = None if a is None else ev.extract(a, features)
    fb = None if b is None else ev.extract(b, features)
    result = {"features": features, "n_a": None if fa is None else len(fa), "n_b": None if fb is None else len(fb)}
    if "fid" in metrics:
        if fa is not None and fb is not None and len(fb) > len(fa):   # the N x N route needs the smaller set second
            first, second = fb, fa
        else:
            first, second = fa, fb
        given = stats_a or stats_b
        if given is not None and (first is not None or second is not None):
            result["fid"] = fid_of_features(given, second if second is not None else first)
        elif given is not None:
            result["fid"] = frechet_distance(stats_a["mu"], stats_a["sigma"], stats_b["mu"], stats_b["sigma"])
        else:
            mu, sigma = statistics(first)
            result["fid"] = fid_of_features({"mu": mu, "sigma": sigma}, second)
        known = [n for n in (result["n_a"], result["n_b"]) if n]
        if known and min(known) < dim:
            log(f"warning: N < {dim}: rank-deficient covariance, the FID is biased")
    if "kid" in metrics:
        result["kid_mean"], result["kid_std"] = kid(fa, fb)
        result["kid_subset_size"] = kid_subset_size(len(fa), len(fb))
    if "prc" in metrics:
        result["precision_recall"] = precision_recall(fa, fb, k=PRDC_K["precision_recall"])
    if "dc" in metrics:
        result["density_coverage"] = density_coverage(fa, fb, k=PRDC_K["density_coverage"])
    return result


def save_statistics(path_images, path_out, features: str, ev: Evaluator) -> dict:
    """pytorch-fid's ``--save-stats``: the mean and covariance of a set's features to an .npz."""
    images = check_images(load_images(path_images), name=str(path_images), grey_28=features == "classifier")
    mu, sigma = statistics(ev.extract(images, features))
    out = Path(path_out)
    atomic_save(out, lambda handle: np.savez(handle, mu=mu, sigma=sigma))
    return {"path": str(out), "dims": len(mu)}


def _print_result(result: dict) -> None:
    sizes = " vs ".join("statistics" if n is None else str(n) for n in (result["n_a"], result["n_b"]))
    if "fid" in result:
        print(f"FID: {result['fid']:.6f}")
    if "kid_mean" in result:
        print(f"KID: {result['kid_mean']:.6f} +- {result['kid_std']:.6f} "
              f"({KID_SUBSETS} subsets of {result['kid_subset_size']})")
    if "precision_recall" in result:
        pr = result["precision_recall"]
        print(f"precision: {pr['precision']:.6f}, recall: {pr['recall']:.6f} (k={PRDC_K['precision_recall']})")
    if "density_coverage" in result:
        dc = result["density_coverage"]
        print(f"density: {dc['density']:.6f}, coverage: {dc['coverage']:.6f} (k={PRDC_K['density_coverage']})")
    print(f"features: {result['features']}, N = {sizes}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m nbhelpers.fid",
        description="FID, KID, precision/recall and density/coverage between two image sets (folders of images, "
                    ".npz of uint8 'images', or for FID pytorch-fid statistics .npz of mu and sigma). "
                    "PATH_A is the real set.")
    parser.add_argument("paths", nargs="*", metavar="PATH", help="two folders or .npz files")
    parser.add_argument("--features", choices=FEATURES, default="inception")
    parser.add_argument("--metrics", default="fid,kid",
                        help=f"comma-separated, from {', '.join(CLI_METRICS)} (default fid,kid)")
    parser.add_argument("--dims", type=int, default=None,
                        help="feature dimension, as pytorch-fid's: 2048 (Inception pool3) or 128 (classifier)")
    parser.add_argument("--save-stats", action="store_true",
                        help="write the mu and sigma of PATH_A's features to PATH_B (.npz), as pytorch-fid does")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 or auto (cuda if available)")
    parser.add_argument("--batch-size", type=int, default=None, help="Inception batch size (default 50 CPU, 200 CUDA)")
    parser.add_argument("--prepare", action="store_true",
                        help="only fetch/verify the Inception weights and the classifier, cache references")
    parser.add_argument("--ref-n-inception", type=int, default=0,
                        help="with --prepare: also cache Inception features of this many test images")
    parser.add_argument("--profile", choices=("smoke", "cpu", "full"), default=None,
                        help="with --prepare: take the reference sizes from params/<profile>/_all.yaml")
    parser.add_argument("--inception-source", choices=INCEPTION_SOURCES, default=None,
                        help="where the Inception weights come from (default: $NBH_FID_INCEPTION or auto)")
    args = parser.parse_args(argv)
    log = lambda message: print(message, file=sys.stderr)  # noqa: E731  stdout carries the result
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
    unknown = [m for m in metrics if m not in CLI_METRICS]
    if unknown or not metrics:
        parser.error(f"--metrics: unknown {', '.join(unknown) or '(none given)'}; choose from {', '.join(CLI_METRICS)}")
    if args.dims is not None and args.dims != FEATURE_DIMS[args.features]:
        parser.error(f"--dims {args.dims}: {args.features} features have {FEATURE_DIMS[args.features]} dimensions "
                     f"(Inception: pool3 only, 2048; pytorch-fid's 64/192/768 blocks are not offered)")
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
        ev = Evaluator(device, n_inception=0, n_classifier=0, batch_size=args.batch_size,
                       inception_source=args.inception_source, log=log)
        if args.save_stats:
            saved = save_statistics(args.paths[0], args.paths[1], args.features, ev)
            print(f"statistics of {saved['dims']} {args.features} features written to {saved['path']}")
            return 0
        result = compare_paths(args.paths[0], args.paths[1], args.features, metrics, ev, log)
    except (ValueError, AssetError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    _print_result(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
