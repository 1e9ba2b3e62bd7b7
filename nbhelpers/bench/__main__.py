"""python -m nbhelpers.bench [vae|fid|gan|prdc|memorisation|batch|all] [--device DEVICE]"""
import argparse
import importlib

SUITES = ("vae", "fid", "gan", "prdc", "memorisation", "batch")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m nbhelpers.bench", description=__doc__)
    parser.add_argument("suite", nargs="?", default="all", choices=SUITES + ("all",))
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda")
    args = parser.parse_args()
    for suite in SUITES if args.suite == "all" else (args.suite,):
        print(f"== {suite} ==", flush=True)
        importlib.import_module(f"nbhelpers.bench.{suite}").main(device=args.device)


if __name__ == "__main__":
    main()
