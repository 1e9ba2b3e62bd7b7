"""python -m nbhelpers.bench [vae|fid|gan|prdc|memorisation|evaluation|batch|all] [--device DEVICE]
python -m nbhelpers.bench budget REPORTS_DIR [--profile P]: where a finished batch's seconds went
python -m nbhelpers.bench precision FP32_DIR BF16_DIR [...]: what bf16 training does to the GAN claims
python -m nbhelpers.bench claims_table SUMMARY_RECORD: a summary's claims as the README's Markdown table"""
import argparse
import importlib
import sys

SUITES = ("vae", "fid", "gan", "prdc", "memorisation", "evaluation", "batch")
READERS = ("budget", "precision", "claims_table")   # read a finished batch's records, with arguments of their own: never in "all"


def main() -> int:
    if sys.argv[1:2] and sys.argv[1] in READERS:
        return importlib.import_module(f"nbhelpers.bench.{sys.argv[1]}").main(sys.argv[2:])
    parser = argparse.ArgumentParser(prog="python -m nbhelpers.bench", description=__doc__)
    parser.add_argument("suite", nargs="?", default="all", choices=SUITES + ("all",))
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda")
    args = parser.parse_args()
    for suite in SUITES if args.suite == "all" else (args.suite,):
        print(f"== {suite} ==", flush=True)
        importlib.import_module(f"nbhelpers.bench.{suite}").main(device=args.device)
    return 0


if __name__ == "__main__":
    sys.exit(main())
