"""Shared code for the MNIST generative-model report notebooks, in rooms by audience.

Layering: imports point into the ground, which imports no room (the ``fid`` shim aside), and
never into ``batch/``: nothing outside it imports it (``bench/`` and the tests aside). Science
code reads no environment variable: ``environment`` reads them all, and the run's context
(``report.context.start_run``) hands their values over as arguments. Imports sit at the top
of a module; one inside a function is a heavy or optional third-party package and says why.
``nbhelpers/tests/test_structure.py`` checks these rules and this map.

The ground, for everyone (the rooms, the notebooks, the batch)
  paths           where data, caches and reports live; the notebooks and their layout
  assets          hash-verified files taken from pinned PyPI wheels
  data            real MNIST: fetch, verify (MD5), load as tensors on the device
  environment     every environment variable read, and the batch's context for one run
  fid             ``python -m nbhelpers.fid``, kept: forwards to ``metrics/__main__``

report/           for the notebooks: what every run does around its science
  config          notebook parameters: profile files, overrides, strict validation
  context         seeding, the device, the environment record; the run and its batch context
  records         metrics.json written and read, exported samples, saved models
  plots           one plotting style: loss curves, image grids
  progress        progress bars where a person watches, sparse lines in logs

models/           for the studies and notebooks: the networks and their training
  vae             the report's VAE and its training loop
  control         ControlVAE's PI controller
  pixelshuffle    sub-pixel convolution and ICNR
  latent          walks through a latent space: lerp / slerp paths, traversals, decoded
  gan/nets        the GAN generator and discriminator/critic
  gan/losses      GAN, WGAN and SS-GAN objectives
  gan/settings    a run's settings and the key that names its checkpoint
  gan/average     the moving average of the generator's weights
  gan/history     what a run records
  gan/checkpoint  a run's checkpoint: written whole and verified, resumed only by its settings
  gan/loop        the one GAN training loop

metrics/          for the studies and notebooks, and a person at the command line
  fid             the Evaluator (FID, KID, precision/recall, class coverage) and FID tables
  distances       Frechet distance and KID of two feature sets
  prdc            improved precision/recall and density/coverage of two feature sets
  features        the two feature extractors, batched extraction, the cached reference set
  inception       the TF Inception-v3: weights, preprocessing, network
  images          image sets as the metrics read them (tensors, folders, .npz)
  classifier      the MNIST CNN behind classifier FID and class coverage (weights/ beside it)
  coverage        which digits a sample set holds, per-digit shares, collapse summaries
  memorisation    whether a model copies its training set: nearest training images
  __main__        the FID command line, as ``python -m pytorch_fid``

studies/          for the notebooks: what each one analyses
  facts           the original report's numbers and the papers' presets
  stats           numbers over seeds: mean ± std, t intervals, paired differences, verdicts, Holm
  claims          the registry of the report's claims: primary measurement, sign, models, why
  subpixel_study  the PixelShuffle / ICNR demonstrations (03)
  gan_study       what the GAN studies share: one run type, training a variant, records, checks
  gan_compare     GAN runs side by side: curves, final table, verdict, coverage
  wgan_study      WGAN settings, the Wasserstein estimate, the clip box (04)
  ssgan_study     SS-GAN runs, the rotation head, the ablation and failure demo (05)
  summary         every model over every seed, the report's claims tested one by one (06)

batch/            for ``./run_all.sh`` only (``python -m nbhelpers.batch``)
  main            the command line, and the batch's steps in order
  plan            every input checked before anything long starts; the runs, in order
  kernel          the Jupyter kernel, the output filter, the variables the kernels inherit
  execute         one notebook through papermill: notebook, log, progress in the terminal
  run             one notebook run, start to end: what every executor runs for a task
  attempts        a run's attempt, from its stage folder to its place in the report tree
  executors       where runs execute: one at a time, several at once, or as Slurm jobs
  order           which ready run starts first: the head of the longest expected chain
  slurm           a Slurm job's state as the batch needs it (sacct)
  index           reports/<profile>/index.html and the one row type behind it
  render          an executed notebook as HTML that works offline
  lock            one batch at a time per reports folder
  dryrun          ``--dry-run``: every branch of a profile at a fraction of the work

bench/            for a person at the command line: side-by-side benchmarks, the GPU check
tests/            unit tests (``pytest nbhelpers``); the repo's ``tests/`` runs processes
"""
