"""``./run_all.sh --dry-run``: every notebook with its profile's parameters, at a fraction of
the work, to prove that the profile runs (issue 16). Reports go to ``reports/<profile>-dry-run/``
(``paths.profile_folder``), never beside the profile's real ones, and say "dry run" in their
run header (``describe``), their banner and in ``metrics.json`` (``"dry_run": true``). Their
numbers mean nothing.

How it reaches the notebooks: the batch decides one ``environment.BatchContext`` per batch
(``plan.batch_context_of``): ``dry_run``, ``max_batches=BATCHES_PER_EPOCH``, ``fresh`` (a dry run
never reuses a finished checkpoint: it proves that the training code runs) and ``note=describe()``.
Its kernels inherit it (``NBH_BATCH``); a notebook reads it once with its run
(``report.context.start_run``: ``run.batch``) and passes ``run.batch.max_batches`` to its training
loops as an argument.

What a dry run keeps and what it shrinks:

1. **Kept: everything that chooses what runs.** Epochs and with them every schedule (evaluations
   every ``eval_every`` epochs, grids, the quarters, Inception at the quarters), the training
   set and batch size, and every switch and list (04's ``compare_settings``, 05's alphas and
   failure demo, 02's sweep and its Inception FIDs). The full profile's 150-epoch schedules
   therefore run as they are.
2. **Shrunk in the training loops: ``BATCHES_PER_EPOCH`` batches an epoch**, through the loops'
   ``max_batches`` argument (the GAN engine, also the SS-GAN's rotation head and the WGAN's
   critic, and the VAE loop, also its per-epoch test loss).
3. **Shrunk in the parameters: sample counts** (``limit``, applied by ``plan.plan``), each to
   at most ``CAPS``. A count keeps its side of the thresholds the code branches on where that
   is affordable: the classifier's counts stay at or above its 128 features, so its FID rows
   are unflagged and take the reference-square-root route exactly as in the profile.
   Inception's cannot: an unflagged Inception FID needs 2048 images a side, many minutes on a
   CPU (docs/operations.md, "Dry run"). Its counts become 4 (KID's least: subsets of 2) and its rows are
   flagged biased, truthfully. The branches that only N >= 2048 takes do not depend on the
   extractor (``evaluator.is_biased``, ``distances.fid_of_features``): classifier rows take them in
   every dry run, and the GPU check (``nbhelpers.bench.gpu_check``) runs them with Inception at
   the full profile's N.
4. **Seeds**: one (the profile's first) unless ``--seeds`` names others (``seeds``). Seeds
   change numbers, not code paths; n seeds cost n times the time.
"""
BATCHES_PER_EPOCH = 2
# Largest value of each sample-count parameter in a dry run (see 3. above).
CAPS = {
    "fid_n_inception": 4,           # generated images per Inception FID (0 stays 0: switched off)
    "fid_ref_n_inception": 4,       # test images in the Inception reference
    "fid_n_classifier": 256,        # >= the classifier's 128 features: unflagged rows, as in the profile
    "fid_ref_n_classifier": 1000,   # precision/recall's k-NN radii over 10k real images cost seconds each
    "curve_n_classifier": 256,      # 05's ablation and failure-demo curves
    "rotation_test_n": 1000,        # 05's per-digit rotation accuracy (every digit about 100 times)
}


def limit(params: dict) -> dict:
    """A notebook's parameters for a dry run: every sample count in ``CAPS`` that it declares
    lowered to its cap; everything else as it was."""
    return {key: min(value, CAPS[key]) if key in CAPS else value for key, value in params.items()}


def seeds(profile_seeds: list[int], chosen: bool) -> list[int]:
    """The seeds of a dry run: the first of the profile's, or all that ``--seeds`` chose."""
    return list(profile_seeds) if chosen else list(profile_seeds[:1])


def describe() -> str:
    """What a dry run changes, in one sentence (for the run header and the report's banner)."""
    caps = ", ".join(f"{key} <= {value}" for key, value in CAPS.items())
    return (f"the profile's parameters, but {BATCHES_PER_EPOCH} batches an epoch and small sample counts "
            f"({caps}); it proves that the profile runs, and its numbers mean nothing")
