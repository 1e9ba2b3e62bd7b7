"""Shared code for the MNIST generative-model report notebooks.

Each module owns one concern and reads top to bottom:

Set-up and records
- ``paths``          where data, caches and reports live
- ``assets``         hash-verified files taken from pinned PyPI wheels
- ``data``           real MNIST: fetch, verify (MD5), load as tensors on the device
- ``config``         notebook parameters: profile files, overrides, strict validation
- ``facts``          the original report's numbers, the papers' presets, the studies' layout
- ``repro``          seeding, device choice, environment record
- ``outputs``        the writer: metrics.json, exported samples, saved models
- ``results``        the reader: what a metrics.json record holds
- ``plots``          one plotting style: loss curves, image grids

Metrics
- ``fid``            the Evaluator (FID, KID, class coverage), FID tables, the CLI
- ``distances``      Frechet distance and KID of two feature sets
- ``prdc``           improved precision/recall and density/coverage of two feature sets
- ``features``       the two feature extractors, batched extraction, the cached reference set
- ``inception``      the TF Inception-v3: weights, preprocessing, network
- ``images``         image sets as the metrics read them (tensors, folders, .npz)
- ``classifier``     the MNIST CNN behind classifier FID and class coverage
- ``coverage``       which digits a sample set holds, per-digit shares, collapse summaries

Models and training
- ``vae``            the report's VAE and its training loop
- ``control``        ControlVAE's PI controller
- ``pixelshuffle``   sub-pixel convolution and ICNR
- ``gan_nets``       the GAN generator and discriminator/critic
- ``gan_losses``     GAN, WGAN and SS-GAN objectives
- ``gan``            the one GAN training loop

Studies (what the notebooks analyse)
- ``subpixel_study`` the PixelShuffle / ICNR demonstrations
- ``gan_study``      what the GAN studies share: one run type, training a variant, records, checks
- ``gan_compare``    GAN runs side by side: curves, final table, verdict, coverage
- ``wgan_study``     WGAN settings, the Wasserstein estimate, the clip box
- ``ssgan_study``    SS-GAN runs, the rotation head, the ablation and failure demo

Running
- ``pipeline``       the batch run behind ./run_all.sh
- ``bench``          side-by-side speed benchmarks
"""
