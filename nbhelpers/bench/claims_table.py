"""A finished summary's claims as the Markdown table the README shows for the confirming run.

    python -m nbhelpers.bench claims_table reports/cpu/summary.metrics.json

prints, from any summary record, the registry version and digest it used, the commit and the
evaluation seeds, then one row per claim: n with its seeds, the estimate with its 95 % interval,
the verdict, the Holm-adjusted verdict, the effect the seeds detect four times in five (80 %
power at the observed spread; in brackets at Holm's first step) and the generator steps a GAN
claim was read at. Set beside the README's
table, it shows whether a run reproduces the confirming run digit for digit; a test checks the
README's table against the confirming run's record (``docs/confirming/``) with this function.
"""
import argparse
import json
import sys
from pathlib import Path

COLUMNS = ("the report's claim", "n (seeds)", "estimate [95 % CI]", "verdict", "Holm-adjusted",
           "effect detected 4 times in 5", "read at")


def cell(text) -> str:
    """A table cell: one line, its pipes escaped."""
    return " ".join(str(text).split()).replace("|", "\\|")


def row(claim: dict) -> list[str]:
    seeds = ", ".join(str(seed) for seed in claim["seeds"])
    return [claim["claim"], f"{claim['n']} ({seeds})" if seeds else str(claim["n"]), claim["estimate [95% CI]"],
            claim["verdict"], claim["verdict_holm"], claim.get("detectable") or "—", claim.get("length") or "—"]


def heading(record: dict) -> str:
    seeds = ", ".join(str(seed) for seed in record["evaluation_seeds"])
    return (f"Registry version {record['registry_version']} (digest {record['registry_digest'][:12]}), "
            f"profile {record['profile']}, commit {record['git_commit'][:7]}, evaluation seeds {seeds}.")


def table(record: dict) -> str:
    """The claims of a summary record as a Markdown table (no line breaks inside a row)."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(cell(value) for value in row(claim)) + " |" for claim in record["claims"]]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m nbhelpers.bench claims_table", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("record", type=Path, help="a summary's record, <reports>/<profile>/summary.metrics.json")
    args = parser.parse_args(argv)
    if not args.record.is_file():
        parser.error(f"no summary record at {args.record} (a batch writes <reports>/<profile>/summary.metrics.json)")
    record = json.loads(args.record.read_text())
    if "claims" not in record or "registry_version" not in record:
        parser.error(f"{args.record} is not a summary's record (it has no claims or registry version)")
    print(heading(record))
    print()
    print(table(record))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
