"""The ControlVAE study (notebook 02): the anti-windup rules on a toy plant, one VAE per KL set
point beside the beta = 1 baseline and constant-beta VAEs, their scores and records, the
comparison with the report, the rate-distortion sweep and the comparison of I gains.

    traces = controlvae_study.simulate_anti_windup(controlvae_study.DEMO_SCHEDULE, **gains, seed=0)
    study = controlvae_study.SetPointStudy(train_x, test_x, training, gains, kl_ema=0.0, device=run.device)
    study.train("vae_beta1", 1.0)
    study.train("controlvae_kl8", study.controller(8.0))
    study.score_models(["vae_beta1", "controlvae_kl8"], evaluator, run, metrics)

The controller and the training of one set point are ``models.control``'s.
"""
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from nbhelpers.metrics import tables
from nbhelpers.metrics.evaluator import Evaluator
from nbhelpers.models.control import ANTI_WINDUP, PIController, TrainedVAE, train_setpoint
from nbhelpers.report import plots, records
from nbhelpers.studies import facts, vae_study
from nbhelpers.studies.claims import KL_TOLERANCE

BASELINE_KEY = "vae_beta1"   # the beta = 1 VAE beside the controlled ones

# --- the anti-windup variants on a toy plant (no training) -----------------------------------

# A fresh model (KL 0) asked for a KL the toy cannot reach (35 > 27: beta pins at beta_min),
# then a reachable 14; then an impossible KL 0 (beta pins at beta_max), then a reachable 8.
DEMO_SCHEDULE = [(600, 35.0), (900, 14.0), (2500, 0.0), (1500, 8.0)]
VARIANT_NAMES = {"clamped": "paper's Algorithm 1 (tests clamped beta)", "freeze": "freeze, no way back",
                 "conditional": "conditional integration (ours)"}


def toy_equilibrium_kl(beta: float, kl_at_zero: float = 27.0, half_beta: float = 1.7) -> float:
    """A stand-in for what a VAE's KL settles to under a constant beta: falls from
    ``kl_at_zero`` at beta = 0 and halves at beta = ``half_beta``."""
    return kl_at_zero * half_beta / (half_beta + beta)


def simulate_anti_windup(schedule: list[tuple[int, float]], *, kp: float, ki: float, beta_min: float,
                         beta_max: float, beta_init: float, lag: float = 50.0, noise: float = 0.5,
                         kl_start: float = 0.0, seed: int = 0,
                         variants: tuple[str, ...] = ANTI_WINDUP) -> pd.DataFrame:
    """Run each anti-windup variant on the same scripted plant; return the traces.

    ``schedule`` lists (steps, target KL) phases. The plant's KL moves a fraction 1/``lag`` of
    the way toward ``toy_equilibrium_kl(beta)`` each step, plus Gaussian batch noise (the same
    noise sequence for every variant). Columns: variant, step, target, kl, beta, unclamped, integral.
    """
    total = sum(n for n, _ in schedule)
    targets = np.concatenate([np.full(n, t, dtype=float) for n, t in schedule])
    shocks = np.random.default_rng(seed).normal(0.0, noise, size=total)
    rows = []
    for variant in variants:
        controller = PIController(targets[0], kp, ki, beta_min, beta_max, beta_init, anti_windup=variant)
        kl = kl_start
        for t in range(total):
            controller.target_kl = targets[t]
            observed = kl + shocks[t]
            beta = controller.step(observed)
            rows.append((variant, t + 1, targets[t], observed, beta, controller.unclamped, controller.integral))
            kl += (toy_equilibrium_kl(beta) - kl) / lag
    return pd.DataFrame(rows, columns=["variant", "step", "target", "kl", "beta", "unclamped", "integral"])


def phase_summary(traces: pd.DataFrame, schedule: list[tuple[int, float]], tail: float = 0.25,
                  near: float = 1.0) -> pd.DataFrame:
    """Per phase and variant: mean KL and beta over the phase's last ``tail``, and the steps
    from the phase's start until the KL first comes within ``near`` nats of the target (NaN: never)."""
    rows, start = [], 0
    for phase, (steps, target) in enumerate(schedule, 1):
        inside = traces[(traces["step"] > start) & (traces["step"] <= start + steps)]
        for variant, group in inside.groupby("variant", sort=False):
            last = group[group["step"] > start + steps * (1 - tail)]
            hits = group.loc[(group["kl"] - target).abs() < near, "step"]
            rows.append({"phase": phase, "target KL": target, "variant": variant,
                         "mean KL": last["kl"].mean(), "mean beta": last["beta"].mean(),
                         "steps to reach": hits.iloc[0] - start if len(hits) else float("nan")})
        start += steps
    return pd.DataFrame(rows)


def plot_anti_windup(traces: pd.DataFrame):
    """The toy plant's KL (smoothed, with the set point dashed) and beta, one line per variant."""
    fig, axes = plt.subplots(1, 2, figsize=(15, 4.2))
    for variant, name in VARIANT_NAMES.items():
        trace = traces[traces["variant"] == variant]
        axes[0].plot(trace["step"], plots.smooth(trace["kl"], 25), label=name)
        axes[1].plot(trace["step"], trace["beta"], label=name)
    axes[0].plot(trace["step"], trace["target"], "k--", lw=1, label="set point")
    axes[0].set(xlabel="step", ylabel="KL (nats)", title="toy plant: KL")
    axes[1].set(xlabel="step", ylabel="beta", title="toy plant: beta")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def reachable_phases(traces: pd.DataFrame, schedule: list[tuple[int, float]] = DEMO_SCHEDULE) -> pd.DataFrame:
    """``phase_summary`` of the phases with a reachable target (14 and 8 nats): the steps each
    variant takes to reach it and the mean KL it holds, one column per variant."""
    phases = phase_summary(traces, schedule)
    reachable = phases[phases["target KL"].isin([14.0, 8.0])].replace({"variant": VARIANT_NAMES})
    return reachable.pivot(index=["phase", "target KL"], columns="variant", values=["steps to reach", "mean KL"])


# --- the trained VAEs ---------------------------------------------------------------------------

def controlled_key(target: float) -> str:
    return f"controlvae_kl{target:g}"


def settled_key(target: float) -> str:
    """The constant-beta VAE trained at the beta that the controller settled on for ``target``."""
    return f"vae_settled_beta_kl{target:g}"


class SetPointStudy:
    """Every VAE the notebook trains, by key: ``BASELINE_KEY`` (beta = 1), ``controlvae_kl<t>``
    (held at KL t by a PI controller) and ``vae_settled_beta_kl<t>`` (constant beta at the beta
    the controller settled on), each with its scores once scored.

    ``training``: ``train_setpoint``'s keyword arguments shared by every run (epochs, batch size,
    learning rate, sizes, seed, ...); ``gains``: the controller's (kp, ki, beta_min, beta_max,
    beta_init). Every run starts from the same initial weights and batch order (the seed), and
    prior samples decode the same z for every model (a generator seeded by ``training["seed"]``
    on ``device``)."""

    def __init__(self, train_images: torch.Tensor, test_images: torch.Tensor, training: dict, gains: dict,
                 kl_ema: float, device):
        self.train_images, self.test_images = train_images, test_images
        self.training, self.gains, self.kl_ema, self.device = training, gains, kl_ema, device
        self.runs: dict[str, TrainedVAE] = {}
        self.scores: dict[str, dict] = {}

    def label(self, key: str) -> str:
        summary = self.runs[key].summary
        if key.startswith("controlvae"):
            return f"ControlVAE, KL {summary['target_kl']:g}"
        settled = f" (settled for KL {key.rsplit('kl', 1)[1]})" if "settled" in key else ""
        return f"VAE, beta = {summary['final_beta']:.2f}" + settled

    def controller(self, target: float, ki: float | None = None) -> PIController:
        """A fresh controller for ``target`` with the study's gains (``ki`` replaces the I gain)."""
        gains = self.gains if ki is None else {**self.gains, "ki": ki}
        return PIController(target, **gains, kl_ema=self.kl_ema)

    def train(self, key: str, beta: "float | PIController") -> TrainedVAE:
        """Train one VAE (``beta``: a constant or a controller), keep it as ``key``, print its summary."""
        self.runs[key] = trained = train_setpoint(self.train_images, self.test_images, beta, **self.training)
        s = trained.summary
        target = "constant" if s["target_kl"] is None else f"target {s['target_kl']:g}"
        print(f"{key:28s} {target:11s} achieved KL {s['achieved_kl']:6.2f}  final beta {s['final_beta']:.3f}  "
              f"settled beta {s['settled_beta']:.3f}  test recon {s['test_recon']:6.2f}  {s['seconds']:.0f} s")
        return trained

    def prior_samples(self, model: torch.nn.Module, n: int) -> torch.Tensor:
        return model.sample(n, generator=torch.Generator(device=self.device).manual_seed(self.training["seed"]))

    def samples_of(self, key: str, n: int) -> torch.Tensor:
        return self.prior_samples(self.runs[key].model, n)

    def controlled_keys(self) -> list[str]:
        return [key for key in self.runs if key.startswith("controlvae")]

    def score(self, key: str, evaluator: Evaluator, run, metrics, inception: bool = True, kid: bool = True) -> dict:
        """Sample, score (classifier features only when not ``inception``; no KID without ``kid``), export
        samples and weights, record the model: summary, scores, per-epoch history (and ``kl_feedback``)."""
        trained = self.runs[key]
        images = self.prior_samples(trained.model, max(evaluator.n["inception"], evaluator.n["classifier"], 100))
        self.scores[key] = evaluator.evaluate(images, kid=kid, inception=inception)
        records.export_samples(run, key, images)
        records.save_model(run, key, trained.model)
        metrics.update_model(key, **trained.summary, epochs=self.training["epochs"], **self.scores[key],
                             history=trained.history.epochs.to_dict(orient="list"))
        if trained.summary["target_kl"] is not None:
            metrics.update_model(key, kl_feedback=vae_study.kl_feedback_spread(
                trained.model, self.test_images, self.training["batch_size"], self.training["seed"]))
        return self.scores[key]

    def score_models(self, keys: list[str], evaluator: Evaluator, run, metrics, baseline_inception: bool = True) -> None:
        """``score`` each of ``keys``; the baseline without Inception or KID unless ``baseline_inception``."""
        for key in keys:
            full = baseline_inception or key != BASELINE_KEY
            self.score(key, evaluator, run, metrics, inception=full, kid=full)

    def sweep(self, targets: list[float], constant_beta: bool, evaluator: Evaluator, run, metrics,
              inception: bool) -> None:
        """Train and score one controlled VAE per further set point; then, with
        ``constant_beta``, one constant-beta VAE at the settled beta of every controlled VAE."""
        for target in targets:
            self.train(controlled_key(target), self.controller(target))
            self.score(controlled_key(target), evaluator, run, metrics, inception=inception)
        if constant_beta:
            for key in self.controlled_keys():
                summary = self.runs[key].summary
                self.train(settled_key(summary["target_kl"]), summary["settled_beta"])
                self.score(settled_key(summary["target_kl"]), evaluator, run, metrics, inception=inception)
        print(f"{len(self.runs)} models trained")

    def check_bounds(self, keys: list[str], metrics) -> None:
        """The controller never leaves its bounds; record whether each controlled VAE's KL ended
        within ``claims.KL_TOLERANCE`` of its set point (``within_half_nat``)."""
        low, high = self.gains["beta_min"], self.gains["beta_max"]
        for key in keys:
            s = self.runs[key].summary
            if s["target_kl"] is not None:
                assert low <= s["beta_min_seen"] <= s["beta_max_seen"] <= high, (key, s)
                metrics.update_model(key, within_half_nat=abs(s["achieved_kl"] - s["target_kl"]) <= KL_TOLERANCE)

    def compare_gains(self, targets: list[float], ki: float, other_ki: float, epochs: int,
                      evaluator: Evaluator) -> list[dict]:
        """``gain_table`` rows: per set point the main run (this study's ``ki``, its epochs) and
        runs ``epochs`` long with ``other_ki`` and with ``ki`` (a run equal to the main one is not
        repeated), each with the classifier FID of ``evaluator``'s classifier sample count."""
        longer = {**self.training, "epochs": epochs}
        rows = []
        for target in targets:
            key = controlled_key(target)
            rows.append(gain_row(target, ki, self.training["epochs"], self.runs[key],
                                 records.final_value(self.scores[key], "classifier")))
            for gain in dict.fromkeys([other_ki, ki]):
                if (gain, epochs) == (ki, self.training["epochs"]):
                    continue   # the main run is that run
                trained = train_setpoint(self.train_images, self.test_images, self.controller(target, gain), **longer)
                value = evaluator.fid(self.prior_samples(trained.model, evaluator.n["classifier"]), "classifier")["value"]
                rows.append(gain_row(target, gain, epochs, trained, value))
                print(f"KL {target:g}, Ki {gain:g}, {epochs} epochs: achieved KL {trained.summary['achieved_kl']:.2f}, "
                      f"{trained.summary['seconds']:.0f} s")
        return rows


# --- what the notebook shows ---------------------------------------------------------------------

TRAINING_PANELS = [("kl", "KL (nats / image)", False), ("beta", "beta", False),
                   ("recon", "reconstruction loss (nats / image, log scale)", True),
                   ("loss", "total loss: recon + beta * KL (log scale)", True)]


def plot_training(study: SetPointStudy, keys: list[str]):
    """KL, beta, reconstruction and total loss per step, every run of ``keys`` overlaid (lightly
    smoothed), each set point dashed in its run's colour."""
    window = max(1, len(study.runs[keys[0]].history.steps) // 150)
    fig, axes = plt.subplots(2, 2, figsize=(15, 8.5))
    for ax, (column, title, logy) in zip(axes.flat, TRAINING_PANELS):
        plots.curves(ax, {study.label(k): study.runs[k].history.steps[column] for k in keys}, xlabel="training step",
                     title=title, window=window, logy=logy)
    for line, key in zip(axes[0, 0].lines, keys):
        if study.runs[key].summary["target_kl"] is not None:
            axes[0, 0].axhline(study.runs[key].summary["target_kl"], ls="--", lw=1.2, color=line.get_color())
    fig.tight_layout()
    return fig


def plot_reconstructions(study: SetPointStudy, keys: list[str], originals: torch.Tensor):
    """``originals`` (odd columns) beside each model's reconstructions, one grid per model."""
    return plots.show_grids({study.label(k): torch.stack([originals, study.runs[k].model.reconstruct(originals)], dim=1)
                             .reshape(-1, 1, 28, 28) for k in keys}, size=5)


def report_table(study: SetPointStudy, keys: list[str]) -> pd.DataFrame:
    """The report's comparison, one row per model: target and achieved KL, whether it holds
    within ``claims.KL_TOLERANCE``, the final and settled beta, test losses, the report's FID,
    then ``tables.fid_table``'s columns."""
    rows = {}
    for key in keys:
        s = study.runs[key].summary
        target = s["target_kl"]
        rows[study.label(key)] = {
            "target KL": target, "achieved KL": s["achieved_kl"],
            f"within {KL_TOLERANCE:g} nats": None if target is None else abs(s["achieved_kl"] - target) <= KL_TOLERANCE,
            "final beta": s["final_beta"], "settled beta": s["settled_beta"], "test recon": s["test_recon"],
            "test KL": s["test_kl"], "report's FID": facts.REPORT_CONTROLVAE_FID.get(target)}
    scores = tables.fid_table({study.label(k): study.scores[k] for k in keys})
    return pd.DataFrame.from_dict(rows, orient="index").join(scores)


def ordering_lines(study: SetPointStudy, keys: list[str]) -> list[str]:
    """Per feature space, the controlled models' FIDs best first and whether their order is the
    report's (``facts.REPORT_CONTROLVAE_FID``), the opposite, or not comparable."""
    controlled = [k for k in keys if study.runs[k].summary["target_kl"] is not None]
    report_order = sorted(facts.REPORT_CONTROLVAE_FID, key=facts.REPORT_CONTROLVAE_FID.get)
    lines = []
    for features in ("inception", "classifier"):
        ours = {study.runs[k].summary["target_kl"]: records.final_value(study.scores[k], features) for k in controlled}
        if None in ours.values():
            continue
        order = sorted(ours, key=ours.get)
        shared = [t for t in order if t in facts.REPORT_CONTROLVAE_FID]
        verdict = ("no comparison possible" if len(shared) < 2 else
                   "the report's ordering" if shared == report_order else "the opposite of the report's ordering")
        lines.append(f"{features} FID, best first: " + ", ".join(f"KL {t:g} = {ours[t]:.2f}" for t in order)
                     + f": {verdict}")
    return lines


SWEEP_GROUPS = {"ControlVAE (set point)": "o", "constant beta at the settled beta": "x", "VAE, beta = 1": "*"}


def plot_sweep(study: SetPointStudy):
    """Left: rate (achieved KL) against distortion (test reconstruction), set points labelled;
    right: classifier FID against the achieved KL; one marker per kind of model."""
    groups = dict(zip(SWEEP_GROUPS, [study.controlled_keys(), [k for k in study.runs if k.startswith("vae_settled")],
                                     [BASELINE_KEY]]))
    fig, axes = plt.subplots(1, 2, figsize=(15, 5))
    for name, keys in groups.items():
        if not keys:
            continue
        kl = [study.runs[k].summary["achieved_kl"] for k in keys]
        axes[0].scatter(kl, [study.runs[k].summary["test_recon"] for k in keys], marker=SWEEP_GROUPS[name], s=70, label=name)
        axes[1].scatter(kl, [records.final_value(study.scores[k], "classifier") for k in keys], marker=SWEEP_GROUPS[name],
                        s=70, label=name)
    for key in study.controlled_keys():
        s = study.runs[key].summary
        axes[0].annotate(f"{s['target_kl']:g}", (s["achieved_kl"], s["test_recon"]), textcoords="offset points",
                         xytext=(6, 6), fontsize=9)
    clf_row = records.final_fid(study.scores[BASELINE_KEY], "classifier")
    axes[0].set(xlabel="rate: achieved KL (nats / image)", ylabel="distortion: test reconstruction (nats / image)",
                title="rate-distortion")
    axes[1].set(xlabel="achieved KL (nats / image)", ylabel=f"classifier FID (N={clf_row['n']}, vs {clf_row['ref']})",
                title="sample quality against KL")
    for ax in axes:
        ax.legend()
    fig.tight_layout()
    return fig


def settled_beta_table(study: SetPointStudy) -> pd.DataFrame:
    """Per set point: the lowest and the settled beta of its ControlVAE, and the KL and test
    reconstruction of the ControlVAE beside those of the constant-beta VAE at the settled beta."""
    rows = []
    for key in study.controlled_keys():
        s = study.runs[key].summary
        constant = study.runs[settled_key(s["target_kl"])].summary
        rows.append({"set point": s["target_kl"], "lowest beta": s["beta_min_seen"], "settled beta": s["settled_beta"],
                     "ControlVAE KL": s["achieved_kl"], "constant-beta KL": constant["achieved_kl"],
                     "ControlVAE test recon": s["test_recon"], "constant-beta test recon": constant["test_recon"]})
    return pd.DataFrame(rows).sort_values("set point")


# --- does the result depend on Ki? -------------------------------------------------------------

GAIN_COLUMNS = ("achieved KL", "settled beta", "test recon", "test KL", "classifier FID")


def gain_row(target: float, ki: float, epochs: int, trained: TrainedVAE, classifier_fid: float) -> dict:
    """One run of the comparison of I gains, as ``gain_table`` reads it."""
    s = trained.summary
    return {"set point": target, "Ki": ki, "epochs": epochs, "achieved KL": s["achieved_kl"],
            "settled beta": s["settled_beta"], "test recon": s["test_recon"], "test KL": s["test_kl"],
            "classifier FID": classifier_fid}


def gain_table(rows: list[dict], tolerance: float = KL_TOLERANCE) -> pd.DataFrame:
    """Runs of the set points at several I gains and lengths, one row each (``rows``: dicts with
    "set point", "Ki", "epochs" and ``GAIN_COLUMNS``), indexed by (set point, Ki, epochs), with
    "within" the ``tolerance`` of the set point added."""
    table = pd.DataFrame(rows).set_index(["set point", "Ki", "epochs"]).sort_index()
    if table.index.has_duplicates:
        raise ValueError(f"two runs share a (set point, Ki, epochs): {sorted(set(table.index[table.index.duplicated()]))}")
    table.insert(1, f"within {tolerance:g} nats", (table["achieved KL"] - table.index.get_level_values(0)).abs() <= tolerance)
    return table


def gain_effect(table: pd.DataFrame, paper_ki: float, profile_ki: float, epochs: int,
                tolerance: float = KL_TOLERANCE) -> str:
    """One sentence from ``gain_table``'s rows at ``epochs``: whether both gains hold every set point
    within ``tolerance``, and the differences (``paper_ki``'s run minus ``profile_ki``'s) in
    achieved KL, test reconstruction and classifier FID per set point."""
    targets = sorted({t for t, ki, e in table.index if e == epochs and ki in (paper_ki, profile_ki)})
    pairs = {t: (table.loc[(t, paper_ki, epochs)], table.loc[(t, profile_ki, epochs)]) for t in targets
             if (t, paper_ki, epochs) in table.index and (t, profile_ki, epochs) in table.index}
    if not pairs:
        return f"no pair of runs with Ki {paper_ki:g} and {profile_ki:g} at {epochs} epochs"
    off = [f"Ki {ki:g} leaves KL {t:g} at {row['achieved KL']:.2f}" for t, both in pairs.items()
           for ki, row in zip((paper_ki, profile_ki), both) if abs(row["achieved KL"] - t) > tolerance]
    settled = (f"At {epochs} epochs both gains hold {'every set point' if len(pairs) > 1 else 'the set point'} within "
               f"{tolerance:g} nats" if not off else f"At {epochs} epochs " + "; ".join(off) + f" (more than {tolerance:g} nats off)")
    names = " / ".join(f"{t:g}" for t in pairs)

    def gaps(column, digits):
        return " / ".join(f"{a[column] - b[column]:+.{digits}f}" for a, b in pairs.values())

    def largest_share(column):
        return max(abs(a[column] - b[column]) / abs(b[column]) for a, b in pairs.values() if b[column])

    return (f"{settled}. Ki {paper_ki:g} minus Ki {profile_ki:g} (KL {names}): achieved KL {gaps('achieved KL', 2)} nats, "
            f"test reconstruction {gaps('test recon', 2)} nats, classifier FID {gaps('classifier FID', 2)}; the largest "
            f"relative difference is {largest_share('test recon'):.1%} in reconstruction and "
            f"{largest_share('classifier FID'):.1%} in classifier FID (one seed: no interval).")


def ki_record(table: pd.DataFrame, finding: str, evaluator: Evaluator) -> dict:
    """``ki_comparison`` of the metrics record: the rows, the finding and the classifier FID's basis."""
    return {"rows": table.reset_index().to_dict(orient="records"), "finding": finding,
            "classifier_fid": {"n": evaluator.n["classifier"], "ref_n": evaluator.ref_n["classifier"]}}
