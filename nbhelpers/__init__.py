"""Shared code for the MNIST generative-model report notebooks.

Each module owns one concern and reads top to bottom:

- ``paths``     where data, caches and reports live
- ``assets``    hash-verified files taken from pinned PyPI wheels
- ``data``      real MNIST: fetch, verify (MD5), load as tensors on the device
- ``config``    notebook parameters: profile files, overrides, strict validation
- ``repro``     seeding, device choice, environment record
- ``report``    metrics.json, output folders, exported samples
- ``plots``     one plotting style: loss curves, image grids
- ``vae``       the report's VAE and its training loop
"""
