"""Benchmarks that measure our fast paths against plain baselines side by side, in one run,
and print ratios (machines are noisy: compare within a run, never against a stored number)."""
