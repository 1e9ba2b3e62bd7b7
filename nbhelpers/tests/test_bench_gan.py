"""``python -m nbhelpers.bench.gan --dtype bfloat16``: the engine's fp32 step against its bf16
autocast, side by side in one process (tiny, on real MNIST)."""
import pytest

from nbhelpers.bench import gan
from nbhelpers.device import pick_device

pytestmark = pytest.mark.usefixtures("one_thread")


def test_the_precision_comparison_times_both_steps_and_gives_their_ratios(capsys):
    result = gan.precision_comparison(pick_device("cpu"), images=128, batch_size=64, rounds=1)
    assert result["rounds"] == 1 and result["fp32_images_per_second"] > 0 and result["bf16_images_per_second"] > 0
    assert result["bf16_vs_fp32_wall"] > 0 and result["bf16_vs_fp32_cpu"] > 0
    out = capsys.readouterr().out
    assert "engine, fp32 (median of 1)" in out and "bf16 autocast vs fp32 (CPU time)" in out
