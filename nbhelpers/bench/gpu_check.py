"""The GPU check (issue 16): what the ``full`` profile costs on one CUDA GPU, measured in one run
of under 8 minutes and written to one JSON.

    python -m nbhelpers.bench.gpu_check [--out gpu_check.json] [--budget-s 400]
    tools/gpu_check.sh [--out gpu_check.json]      # the same, with carried wheels where needed

It needs CUDA (without it, it says so and exits with status 2), the repo, MNIST and the FID
weights (fetched as ``./run_all.sh`` fetches them, or found in ``data/`` and ``NBH_CACHE_DIR``),
and for step 2 papermill, nbconvert and ipykernel. Steps, each timed; one that fails is
recorded with its error and the next one runs:

1. ``assets``: MNIST, the weights, the classifier, and the full profile's reference statistics
   (10k test images through Inception: the N = 10k reference path).
2. ``smoke``: ``./run_all.sh --profile smoke`` on CUDA into a temporary folder; the status,
   device and seconds of every notebook.
3. ``units``: one of each piece of work the full profile repeats, at its sizes (all 60k
   training images, 10k samples a side): a VAE epoch and a ControlVAE epoch; ``GAN_EPOCHS``
   epochs of each GAN training (03's GAN, 04's two WGAN settings, 05's SS-GAN), checkpoints
   included, eager and, for 03, 04's main setting and 05, compiled (``GanConfig(compile=True)``;
   04's paper setting is priced eager in both estimates); and
   each evaluation: classifier FID of 10k samples, the same with Inception (unflagged: N = 10k
   a side; its rows are kept), the final evaluation (KID, precision/recall too), and 05's curve
   evaluation.
4. ``extrapolated``: ``workload`` counts the units each notebook of the full profile runs, from
   its resolved parameters (epochs, the evaluation schedule, settings, alphas, demo runs; the
   full profile's dry run checks the counts, ``tests/test_dry_run.py``); ``extrapolate`` prices them per notebook, for one seed and for the profile's seeds, eager
   and compiled. The smoke run's seconds per notebook stand in for the fixed costs (kernel
   start, small cells, rendering).

Budget on one H100 (an estimate before any run; the JSON holds the measured seconds): assets
~30 s (10k Inception images, weights), smoke ~120 s (six kernels start and render), VAE units
~10 s, eager GAN units 4 x 3 epochs x ~4 s ~ 50 s, evaluations ~40 s, compiled GAN units
3 x (~40 s compiling + 3 epochs) ~ 150 s: ~400 s. No step starts after ``--budget-s`` (default
400 s); the compiled units come last, so they are what a slow machine skips. The longest step
(~90 s) then ends the run before 8 minutes.
"""
import argparse
import json
import math
import os
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import torch

from nbhelpers import data
from nbhelpers.batch import main as batch
from nbhelpers.environment import BatchContext
from nbhelpers.metrics import caches
from nbhelpers.metrics.evaluator import Evaluator
from nbhelpers.models import control, gan, vae
from nbhelpers.models.gan import nets as gan_nets
from nbhelpers.models.gan.losses import NonSaturatingGAN, SelfSupervisedGAN
from nbhelpers.paths import GAN_NOTEBOOKS, STUDY_NOTEBOOKS
from nbhelpers.report import profiles
from nbhelpers.report.context import git_commit
from nbhelpers.studies import gan_compare, gan_study, sections, ssgan_study, wgan_study

PROFILE = "full"
GAN_EPOCHS = 3            # epochs per GAN unit: the first (warm-up, compiling) is priced apart
MNIST_TRAIN = 60_000
GAN_KINDS = {"03_gan_pixelshuffle": "gan", "05_ssgan": "ssgan"}   # 04: "wgan_<setting>"


# ----------------------------------------------------------------------------- what the profile runs

def _epochs(epochs: int, train_limit: int) -> float:
    """Epochs counted in 60k-image epochs (a run on the first ``train_limit`` images costs less)."""
    return epochs * min(train_limit or MNIST_TRAIN, MNIST_TRAIN) / MNIST_TRAIN


def _gan_run(units: Counter, kind: str, params: dict, epochs: int, train_limit: int, inception_epochs=(),
             final: bool = True, eval_every: int | None = None, evaluation: str = "classifier_eval") -> None:
    """Add one GAN training run's units: its epochs, one warm-up, the engine's evaluations,
    Inception's extra at ``inception_epochs``."""
    schedule = gan.GanConfig(epochs=epochs, eval_every=params["eval_every"] if eval_every is None else eval_every)
    units[f"{kind}_epoch"] += _epochs(epochs, train_limit)
    units[f"{kind}_warmup"] += 1
    units[evaluation] += len(gan.evaluation_epochs(schedule))
    units["inception_eval"] += len(inception_epochs)
    units["final_eval"] += 1 if final else 0


def workload(params: dict[str, dict]) -> dict[str, Counter]:
    """How many of each unit every study notebook runs, from its resolved parameters
    (``profiles.resolve``), as the notebooks run them. Units: ``vae_epoch``, ``controlvae_epoch``,
    ``<kind>_epoch`` (60k images) and ``<kind>_warmup`` (one per run) for the GAN kinds,
    ``classifier_eval``, ``inception_eval`` (Inception's part of an evaluation), ``final_eval``
    (one sample set with every metric), ``curve_eval`` (05's classifier-only curves)."""
    counts = {}
    for stem, p in params.items():
        units = Counter()
        if stem == "01_vae":
            units["vae_epoch"] += _epochs(p["epochs"], p["train_limit"])
            units["final_eval"] += 4                       # prior, thresholded, reconstructions, MNIST train
        elif stem == "02_controlvae":
            controlled = len(p["set_points"]) + len(p["sweep_set_points"])
            constant = 1 + (controlled if p["constant_beta_runs"] else 0)   # beta = 1, then the settled betas
            units["controlvae_epoch"] += controlled * _epochs(p["epochs"], p["train_limit"])
            units["vae_epoch"] += constant * _epochs(p["epochs"], p["train_limit"])
            main = 1 + len(p["set_points"])
            units["final_eval" if p["sweep_fid_inception"] else "classifier_eval"] += controlled + constant - main
            units["final_eval"] += main
            if p["ki_comparison"]:   # each set point with both I gains at the comparison's length, one already run
                gains = {p["ki_comparison_ki"], p["ki"]}
                runs = len(p["set_points"]) * (len(gains) - ((p["ki"], p["ki_comparison_epochs"]) == (p["ki"], p["epochs"])))
                units["controlvae_epoch"] += runs * _epochs(p["ki_comparison_epochs"], p["train_limit"])
                units["classifier_eval"] += runs
        elif stem in GAN_NOTEBOOKS:
            quarters = gan_compare.inception_epochs(p["inception_during_training"], p["epochs"])
            if stem == "04_wgan":
                for setting in [p["setting"], *p["compare_settings"]]:
                    _gan_run(units, f"wgan_{setting}", p, p["epochs"], p["train_limit"], quarters)
            elif stem == "05_ssgan":
                during = [epoch for epoch in quarters if epoch != p["epochs"]]   # the last: the final evaluation
                for _ in range(1 + p["sngan_baseline"]):   # the SS-GAN, and the SN-GAN baseline on its networks
                    _gan_run(units, "ssgan", p, p["epochs"], p["train_limit"], during)
                short = dict(eval_every=1, final=False, evaluation="curve_eval")
                for _ in p["ablation_alphas"]:
                    _gan_run(units, "ssgan", p, p["ablation_epochs"], p["ablation_train_limit"], **short)
                    units["final_eval"] += 1
                if p["failure_demo"]:   # leak, mixed BatchNorm, and the correct one unless the ablation has it
                    runs = 2 + (p["alpha"] not in p["ablation_alphas"])
                    for _ in range(runs):
                        _gan_run(units, "ssgan", p, p["ablation_epochs"], p["ablation_train_limit"], **short)
            else:
                _gan_run(units, GAN_KINDS[stem], p, p["epochs"], p["train_limit"], quarters)
        counts[stem] = units
    return counts


def extrapolate(counts: dict[str, Counter], unit_seconds: dict[str, float], fixed: dict[str, float] = None,
                seeds: int = 1) -> dict:
    """Seconds of each notebook (its units priced by ``unit_seconds``, plus its ``fixed``
    seconds), of one seed and of ``seeds`` seeds; a notebook with an unmeasured unit is None,
    and so are the totals then."""
    fixed = fixed or {}
    per_notebook = {}
    for stem, units in counts.items():
        missing = [unit for unit, count in units.items() if count and unit not in unit_seconds]
        per_notebook[stem] = None if missing else round(
            fixed.get(stem, 0.0) + sum(count * unit_seconds[unit] for unit, count in units.items()), 1)
    one_seed = None if None in per_notebook.values() else round(sum(per_notebook.values()), 1)
    return {"notebooks": per_notebook, "one_seed_s": one_seed, "seeds": seeds,
            "all_seeds_s": None if one_seed is None else round(one_seed * seeds, 1)}


# ----------------------------------------------------------------------------- measuring the units

def _synchronised(work):
    """(result, wall seconds) of ``work()`` with the GPU's queue drained before and after."""
    torch.cuda.synchronize()
    started = time.perf_counter()
    result = work()
    torch.cuda.synchronize()
    return result, time.perf_counter() - started


def _gan_parts(kind: str, p: dict):
    """Networks, objective and engine settings of one GAN kind, built as its notebook builds them."""
    P = SimpleNamespace(**p)
    if kind == "gan":
        torch.manual_seed(P.seed)
        networks = (gan_nets.Generator(channels=tuple(P.g_channels), icnr=P.icnr),
                    gan_nets.Discriminator(first_channels=P.d_channels, norm=P.d_norm, output="logit"))
        return networks, NonSaturatingGAN(), gan_study.gan_config(P)
    if kind == "ssgan":
        networks = ssgan_study.build_networks(P.seed, g_channels=P.g_channels, d_channels=P.d_channels)
        return networks, SelfSupervisedGAN(alpha=P.alpha, beta=P.beta), gan_study.gan_config(P)
    objective, overrides = wgan_study.objective_for(kind.removeprefix("wgan_"), P.report_n_critic)
    return wgan_study.build_networks(P.seed), objective, gan_study.gan_config(P, **overrides)


def gan_unit(kind: str, p: dict, images: torch.Tensor, compiled: bool, folder: Path) -> dict:
    """``GAN_EPOCHS`` epochs of one GAN kind at the profile's settings, checkpoints included:
    a steady epoch's seconds (training plus its share of grids and checkpoints) and the first
    epoch's extra (warm-up, compiling)."""
    (generator, discriminator), objective, settings = _gan_parts(kind, p)
    settings = settings.with_overrides(epochs=GAN_EPOCHS, compile=compiled)
    history, wall = _synchronised(lambda: gan.train(generator, discriminator, objective, images, settings, name=kind,
                                                    checkpoint_dir=folder / f"{kind}-{compiled}", log=None))
    seconds = history.epochs["seconds"].tolist()
    steady = sum(seconds[1:]) / len(seconds[1:])
    return {"epoch_s": steady + (wall - sum(seconds)) / len(seconds), "warmup_s": max(seconds[0] - steady, 0.0),
            "epochs_s": seconds, "wall_s": wall, "generator": generator}


def measure_units(params: dict[str, dict], device: torch.device, step, folder: Path) -> dict:
    """Every unit ``workload`` counts, eager, and the compiled GAN units last (``step`` runs,
    times and records each one). Returns {"eager": {unit: s}, "compiled": {unit: s}, "fid": rows}."""
    train_x, _ = data.load_mnist("train", device)
    test_x, _ = data.load_mnist("test", device)
    eager, compiled, rows = {}, {}, {}

    def vae_epoch():
        p = params["01_vae"]
        model = vae.VAE(latent_dim=p["latent_dim"], hidden=p["hidden"]).to(device)
        vae.train_vae(model, train_x, test_x, epochs=1, batch_size=p["batch_size"], progress=False)   # warm-up
        _, wall = _synchronised(lambda: vae.train_vae(model, train_x, test_x, epochs=2, batch_size=p["batch_size"],
                                                      progress=False))
        eager["vae_epoch"] = wall / 2
        return {"epoch_s": wall / 2}

    def controlvae_epoch():
        p = params["02_controlvae"]
        rule = control.PIController(p["set_points"][0], p["kp"], p["ki"], p["beta_min"], p["beta_max"], p["beta_init"])
        _, wall = _synchronised(lambda: control.train_setpoint(train_x, test_x, rule, epochs=2, batch_size=p["batch_size"],
                                                               lr=p["lr"], seed=p["seed"]))
        eager["controlvae_epoch"] = wall / 2
        return {"epoch_s": wall / 2}

    step("unit vae_epoch", vae_epoch)
    step("unit controlvae_epoch", controlvae_epoch)
    kinds = [("03_gan_pixelshuffle", "gan"), ("05_ssgan", "ssgan")] + [
        ("04_wgan", f"wgan_{s}") for s in [params["04_wgan"]["setting"], *params["04_wgan"]["compare_settings"]]]
    generators = {}

    def gan_kind(stem, kind, table, compile_it):
        def work():
            result = gan_unit(kind, params[stem], train_x, compile_it, folder)
            generators.setdefault(kind, result.pop("generator"))
            table[f"{kind}_epoch"], table[f"{kind}_warmup"] = result["epoch_s"], result["warmup_s"]
            return result
        return work

    for stem, kind in kinds:
        step(f"unit {kind} eager", gan_kind(stem, kind, eager, False))

    def evaluations():
        p = params["03_gan_pixelshuffle"]
        generator = generators.get("gan") or _gan_parts("gan", p)[0][0].to(device)
        evaluator = sections.evaluator_for(SimpleNamespace(device=device), SimpleNamespace(**p))
        classifier_only = gan_study.training_evaluator(evaluator)
        with_inception = gan_study.training_evaluator(evaluator, inception_epochs=[1])
        classifier_only(generator, 1)                                    # warm-up: weights, references
        _, eager["classifier_eval"] = _synchronised(lambda: classifier_only(generator, 2))
        row, both = _synchronised(lambda: with_inception(generator, 1))
        eager["inception_eval"] = max(both - eager["classifier_eval"], 0.0)
        final, eager["final_eval"] = _synchronised(lambda: gan_study.final_evaluation(evaluator, generator))
        curves = Evaluator(device, n_inception=0, n_classifier=params["05_ssgan"]["curve_n_classifier"],
                               ref_n_inception=p["fid_ref_n_inception"], ref_n_classifier=p["fid_ref_n_classifier"])
        gan_study.training_evaluator(curves)(generator, 1)
        _, eager["curve_eval"] = _synchronised(lambda: gan_study.training_evaluator(curves)(generator, 2))
        rows.update(training=row["fid_rows"], final={key: final[key] for key in ("fid", "kid", "precision_recall",
                                                                              "density_coverage")})
        return {key: eager[key] for key in ("classifier_eval", "inception_eval", "final_eval", "curve_eval")}

    step("unit evaluations", evaluations)
    for stem, kind in kinds:
        if kind != "wgan_paper":   # the main settings; the paper's WGAN shares the report's networks
            step(f"unit {kind} compiled", gan_kind(stem, kind, compiled, True))
    return {"eager": eager, "compiled": compiled, "fid": rows}


# ----------------------------------------------------------------------------- the run

class Steps:
    """Runs named steps in order, each timed and recorded (error and all); none starts once
    ``budget_s`` has passed. The record is written to ``out`` after every step."""

    def __init__(self, out: Path, record: dict, budget_s: float):
        self.out, self.record, self.budget_s, self.started = out, record, budget_s, time.perf_counter()
        record["steps"] = {}

    def __call__(self, name: str, work):
        elapsed = time.perf_counter() - self.started
        if elapsed > self.budget_s:
            self.record["steps"][name] = {"status": "skipped", "why": f"{elapsed:.0f} s had passed (budget {self.budget_s:.0f} s)"}
            print(f"  {name}: skipped (budget)", flush=True)
            return None
        started = time.perf_counter()
        try:
            result = work()
            entry = {"status": "ok", **{k: v for k, v in (result or {}).items() if isinstance(v, (int, float, str, list))}}
        except Exception as error:  # recorded; the next step still runs
            result, entry = None, {"status": "failed", "error": f"{type(error).__name__}: {error}",
                                   "traceback": traceback.format_exc(limit=5)}
        entry["seconds"] = round(time.perf_counter() - started, 2)
        self.record["steps"][name] = entry
        print(f"  {name}: {entry['status']} in {entry['seconds']:.1f} s"
              f"{'  ' + entry['error'] if 'error' in entry else ''}", flush=True)
        self.write()
        return result

    def write(self) -> None:
        self.record["total_s"] = round(time.perf_counter() - self.started, 1)
        self.out.write_text(json.dumps(self.record, indent=2, default=str))


def smoke_run(folder: Path) -> dict:
    """``./run_all.sh --profile smoke`` into ``folder``: its exit status and each notebook's record."""
    status = batch.main(["--profile", "smoke", "--reports-dir", str(folder)])
    notebooks = {}
    for path in sorted((folder / "smoke").rglob("*.metrics.json")):
        record = json.loads(path.read_text())
        notebooks[record.get("notebook", path.stem)] = {key: record.get(key) for key in ("status", "device", "wall_seconds")}
    if status != 0:
        raise RuntimeError(f"the smoke batch exited with {status}: {notebooks}")
    return {"exit_status": status, "notebooks": notebooks}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nbhelpers.bench.gpu_check", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("gpu_check.json"))
    parser.add_argument("--budget-s", type=float, default=400.0, help="no step starts after this many seconds")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print(f"gpu_check needs a CUDA GPU, and torch {torch.__version__} (CUDA build {torch.version.cuda}) sees none "
              "here. Run it on a machine with an NVIDIA GPU: tools/gpu_check.sh", file=sys.stderr)
        return 2
    os.environ.update(BatchContext(progress_lines=True).variables())   # this process's output is a log: no progress bars
    device = torch.device("cuda")
    params = {stem: profiles.resolve(stem, PROFILE, seed=0) for stem in STUDY_NOTEBOOKS}
    seeds = len(profiles.profile_seeds(PROFILE))
    properties = torch.cuda.get_device_properties(device)
    record = {"check": "gpu_check", "profile": PROFILE, "git_commit": git_commit(), "started": time.strftime("%Y-%m-%d %H:%M:%S"),
              "device": {"name": properties.name, "memory_gib": round(properties.total_memory / 2**30, 1),
                         "capability": f"{properties.major}.{properties.minor}", "torch": torch.__version__,
                         "cuda": torch.version.cuda},
              "budget_s": args.budget_s, "gan_epochs_per_unit": GAN_EPOCHS}
    step = Steps(args.out, record, args.budget_s)
    print(f"GPU check on {properties.name}, torch {torch.__version__}; writing {args.out}", flush=True)
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as scratch:
        scratch = Path(scratch)
        step("assets", lambda: {"data": data.prepare(), "fid": caches.prepare(
            device, ref_n_inception=params["01_vae"]["fid_ref_n_inception"],
            ref_n_classifier=params["01_vae"]["fid_ref_n_classifier"])})
        smoke = step("smoke", lambda: smoke_run(scratch / "reports"))
        try:
            measured = measure_units(params, device, step, scratch)
        except Exception as error:  # e.g. no MNIST: recorded, and the JSON is still written
            record["steps"]["units"] = {"status": "failed", "error": f"{type(error).__name__}: {error}"}
            measured = {"eager": {}, "compiled": {}, "fid": {}}
    counts = workload(params)
    fixed = {stem: entry["wall_seconds"] or 0.0 for stem, entry in (smoke or {}).get("notebooks", {}).items()
             if stem in counts}
    record["smoke_notebooks"] = (smoke or {}).get("notebooks")
    record["units_s"] = {name: {k: round(v, 3) for k, v in table.items()} for name, table in measured.items() if name != "fid"}
    record["full_size_fid"] = measured["fid"]
    record["workload"] = {stem: dict(units) for stem, units in counts.items()}
    record["extrapolated"] = {"eager": extrapolate(counts, measured["eager"], fixed, seeds),
                              "compiled": extrapolate(counts, {**measured["eager"], **measured["compiled"]}, fixed, seeds)}
    step.write()
    for mode, estimate in record["extrapolated"].items():
        total = estimate["all_seeds_s"]
        print(f"full profile, {mode}: " + ("not measured" if total is None else
              f"{total / 3600:.2f} h for {seeds} seeds ({math.ceil(estimate['one_seed_s'] / 60)} min a seed)"))
    failed = [name for name, entry in record["steps"].items() if entry["status"] == "failed"]
    print(f"written {args.out}" + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
