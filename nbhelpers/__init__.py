"""Shared code for the MNIST generative-model report notebooks.

Each module owns one concern and reads top to bottom:

- ``paths``        where data, caches and reports live
- ``assets``       hash-verified files taken from pinned PyPI wheels
- ``data``         real MNIST: fetch, verify (MD5), load as tensors on the device
- ``config``       notebook parameters: profile files, overrides, strict validation
- ``repro``        seeding, device choice, environment record
- ``report``       metrics.json, exported samples
- ``plots``        one plotting style: loss curves, image grids
- ``fid``          Inception / classifier FID, KID, reference statistics, CLI
- ``classifier``   the MNIST CNN behind classifier FID and class coverage
- ``vae``          the report's VAE and its training loop
- ``control``      ControlVAE's PI controller
- ``pixelshuffle`` sub-pixel convolution and ICNR
- ``gan_nets``     the GAN generator and discriminator/critic
- ``gan_losses``   GAN, WGAN and SS-GAN objectives
- ``gan``          the one GAN training loop
- ``gan_report``   evaluation, records and figures shared by the GAN notebooks
- ``pipeline``     the batch run behind ./run_all.sh
- ``bench``        side-by-side speed benchmarks
"""
