"""What training the GANs in bf16 does to the claims: the GAN claims' primary measures of one
seed's runs trained in fp32 and in bf16 (``training_precision``), side by side, against the
spread of the same measures over other seeds.

    python -m nbhelpers.bench precision FP32_DIR BF16_DIR --seed 0 [--profile cpu]
        [--spread DIR --spread-profile lengths --length 12]

``FP32_DIR`` and ``BF16_DIR`` are two batches' ``--reports-dir`` with the same profile and seed
(the tuning seed: the runs a profile's settings may be chosen on). ``--spread`` names a batch of
other seeds whose numbers give the seed-to-seed standard deviation of each measure (the length
study's, read at ``--length``, is the default run's numbers of its seeds); each row then shows
|bf16 - fp32| in units of that deviation. Measures are on the scale the claims test (a log ratio
as its natural log). The runs' code state is shown, not required to be the current one: the
comparison is of their numbers.
"""
import argparse
import os
import sys
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pandas as pd

from nbhelpers.studies import collect, lengths, verdicts


@contextmanager
def _reports_root(folder: Path):
    """Read the records under ``folder`` (``NBH_REPORTS_DIR``) for the block's duration."""
    before = os.environ.get("NBH_REPORTS_DIR")
    os.environ["NBH_REPORTS_DIR"] = str(folder)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("NBH_REPORTS_DIR", None)
        else:
            os.environ["NBH_REPORTS_DIR"] = before


def _seed_runs(folder: Path, profile: str, seed: int) -> collect.Collected:
    """One seed's records of ``folder`` as the one evaluation seed (tuning or not), any code state."""
    with _reports_root(folder):
        collected = collect.collect(profile, [seed], tuning_seeds=[], current_code_only=False)
    return replace(collected, exploratory_seeds=[])


def _spread_runs(folder: Path, profile: str, length: int | None) -> collect.Collected:
    with _reports_root(folder):
        collected = collect.collect(profile, current_code_only=False)
    if length is not None:
        collected = lengths.at_length(collected, length)
    return lengths.exploring(collected)


def _tested(result: verdicts.MeasureResult) -> float | None:
    return (result.interval or {}).get("mean")


def table(fp32: collect.Collected, bf16: collect.Collected, spread: collect.Collected | None) -> pd.DataFrame:
    """One row per primary measure of each GAN claim: fp32, bf16, their difference, the seeds'
    standard deviation and |difference| / deviation."""
    rows = []
    for claim in lengths.gan_claims():
        for m in claim.primary:
            if m.form == "text":
                continue
            ours, theirs = _tested(verdicts.measure(fp32, m)), _tested(verdicts.measure(bf16, m))
            across = verdicts.measure(spread, m) if spread is not None else None
            sd = (across.interval or {}).get("std") if across is not None else None
            difference = None if ours is None or theirs is None else theirs - ours
            rows.append({"claim": claim.key, "measure (tested scale)": m.label, "fp32": ours, "bf16": theirs,
                         "bf16 - fp32": difference, "seeds' sd": sd, "n seeds": across.n if across else None,
                         "|difference| / sd": abs(difference) / sd if difference is not None and sd else None})
    return pd.DataFrame(rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nbhelpers.bench precision", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("fp32", type=Path)
    parser.add_argument("bf16", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--spread", type=Path, default=None)
    parser.add_argument("--spread-profile", default="lengths")
    parser.add_argument("--length", type=int, default=None)
    args = parser.parse_args(argv)
    fp32, bf16 = (_seed_runs(folder, args.profile, args.seed) for folder in (args.fp32, args.bf16))
    for name, runs in (("fp32", fp32), ("bf16", bf16)):
        if not runs.records:
            print(f"no records of seed {args.seed}, profile {args.profile} under {getattr(args, name)}", file=sys.stderr)
            return 1
    spread = _spread_runs(args.spread, args.spread_profile, args.length) if args.spread else None
    with pd.option_context("display.width", 200, "display.max_colwidth", 70, "display.float_format", "{:.4f}".format):
        print(f"seed {args.seed} ({args.profile}), fp32 {args.fp32} against bf16 {args.bf16}"
              + (f"; seeds' spread: {args.spread} ({args.spread_profile}, seeds {spread.evaluation_seeds}"
                 + (f", read at {args.length} epochs)" if args.length else ")") if spread else ""))
        print(table(fp32, bf16, spread).to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
