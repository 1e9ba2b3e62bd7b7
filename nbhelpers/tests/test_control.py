"""The PI controller against hand-computed values (nbhelpers/models/control.py has the equations),
and the training of one set point."""
import math

import pytest
import torch

from nbhelpers.models.control import PIController, TrainedVAE, p_term, tail_mean, train_setpoint


def run(controller: PIController, kls) -> list[float]:
    return [controller.step(kl) for kl in kls]


# --- P term -----------------------------------------------------------------------------------

def test_p_term_values():
    assert p_term(1.0, 0.0) == pytest.approx(0.5)
    assert p_term(2.0, math.log(3)) == pytest.approx(2 / (1 + 3))        # KL below target: small P
    assert p_term(2.0, -math.log(3)) == pytest.approx(2 / (1 + 1 / 3))   # KL above target: P -> kp


@pytest.mark.parametrize("error, expected", [(1e4, 0.0), (1e308, 0.0), (-1e4, 1.0), (-1e308, 1.0)])
def test_p_term_never_overflows(error, expected):
    with pytest.raises(OverflowError):
        math.exp(abs(error))  # the naive formula would fail here
    assert p_term(1.0, error) == pytest.approx(expected)


def test_controller_survives_extreme_kl():
    c = PIController(10, kp=1, ki=0.1, beta_min=0, beta_max=5, beta_init=1)
    assert c.step(1e6) == 5.0      # e = -1e6: P = kp, I jumps up, beta clamps at the top
    assert c.step(-1e6) == 0.0     # e = +1e6: P = 0, I jumps down (back into range), clamps at 0
    assert math.isfinite(c.integral)


# --- inside the bounds ------------------------------------------------------------------------

def test_steps_by_hand():
    # I(0) = beta_init - beta_min = 1
    c = PIController(target_kl=10, kp=1, ki=0.1, beta_min=1, beta_max=5, beta_init=2)
    # e = 0: P = 1/2, I = 1, b = 0.5 + 1 + 1
    assert c.step(10) == pytest.approx(2.5)
    # e = -2: P = 1 / (1 + e^-2), I = 1 + 0.1 * 2 = 1.2
    assert c.step(12) == pytest.approx(1 / (1 + math.exp(-2)) + 1.2 + 1)
    # e = ln 3: P = 1/4, I = 1.2 - 0.1 ln 3
    assert c.step(10 - math.log(3)) == pytest.approx(0.25 + 1.2 - 0.1 * math.log(3) + 1)
    assert c.integral == pytest.approx(1.2 - 0.1 * math.log(3))


def test_moving_average_of_observed_kl():
    # kp = 0 isolates I; KL_s = 12, then 0.5*12 + 0.5*8 = 10, then 0.5*10 + 0.5*4 = 7
    c = PIController(10, kp=0, ki=1, beta_min=0, beta_max=100, beta_init=50, kl_ema=0.5)
    assert run(c, [12, 8, 4]) == pytest.approx([52, 52, 49])
    assert c.smoothed_kl == pytest.approx(7)


# --- wind-up and recovery at both bounds (kp = 0, ki = 1: I moves by -e per step) --------------

BOUNDS = dict(kp=0, ki=1, beta_min=0, beta_max=2, beta_init=1)


def test_upper_bound_freezes_then_recovers_at_once():
    c = PIController(10, **BOUNDS)
    # e = -1 four times: I = 2 (b=2 in range), 3 (b=3 clamped), then frozen at 3 since b(t-1) = 3 > 2
    assert run(c, [11, 11, 11, 11]) == [2, 2, 2, 2]
    assert c.integral == 3 and c.unclamped == 3
    # e = +1 leads back into range: I = 2 -> beta 2, then I = 1 -> beta 1
    assert run(c, [9, 9]) == [2, 1]


def test_lower_bound_freezes_then_recovers_at_once():
    c = PIController(10, **BOUNDS)
    # e = +1: I = 0 (b=0 in range), -1 (clamped to 0), then frozen at -1
    assert run(c, [9, 9, 9, 9]) == [0, 0, 0, 0]
    assert c.integral == -1
    # e = -1 leads back: I = 0 -> beta 0, I = 1 -> beta 1
    assert run(c, [11, 11]) == [0, 1]


def test_paper_algorithm_winds_up_and_recovers_late():
    c = PIController(10, **BOUNDS, anti_windup="clamped")
    # the clamped beta(t-1) is always in range, so I keeps integrating: 2, 3, 4, 5
    assert run(c, [11, 11, 11, 11]) == [2, 2, 2, 2]
    assert c.integral == 5
    # unwinding 5 -> 1 takes four steps instead of two
    assert run(c, [9, 9, 9, 9]) == [2, 2, 2, 1]
    c = PIController(10, **BOUNDS, anti_windup="clamped")
    run(c, [9, 9, 9, 9])
    assert c.integral == -3
    assert run(c, [11, 11, 11, 11]) == [0, 0, 0, 1]


@pytest.mark.parametrize("first, then, stuck_at", [(11, 9, 2), (9, 11, 0)])
def test_freezing_without_way_back_sticks_for_good(first, then, stuck_at):
    c = PIController(10, **BOUNDS, anti_windup="freeze")
    run(c, [first] * 4)
    assert run(c, [then] * 50) == [stuck_at] * 50


def test_beta_stays_in_bounds_with_p_term():
    c = PIController(10, kp=3, ki=0.5, beta_min=0.5, beta_max=2, beta_init=1)
    betas = run(c, [0, 30, 0, 30, 10, 25, 1] * 5)
    assert all(0.5 <= b <= 2 for b in betas)


@pytest.mark.parametrize("kwargs", [dict(beta_init=3), dict(beta_init=-1), dict(kp=-1), dict(kl_ema=1.0),
                                    dict(anti_windup="none")])
def test_bad_arguments(kwargs):
    args = dict(target_kl=8, kp=0.01, ki=0.001, beta_min=0, beta_max=2, beta_init=1) | kwargs
    with pytest.raises(ValueError):
        PIController(**args)


# --- helpers ----------------------------------------------------------------------------------

def test_tail_mean():
    assert tail_mean(range(1, 11)) == 10            # last 10% of 10 values: one value
    assert tail_mean(range(20)) == pytest.approx(18.5)
    assert tail_mean([4.0]) == 4.0


def test_train_setpoint_tiny():
    images = torch.rand(256, 1, 28, 28)
    controller = PIController(5.0, kp=0.01, ki=0.01, beta_min=0.0, beta_max=3.0, beta_init=1.0)
    controlled = train_setpoint(images, images[:64], controller, epochs=1, batch_size=64, lr=1e-3)
    assert isinstance(controlled, TrainedVAE)
    steps = controlled.history.steps
    assert len(steps) == 4 and steps["beta"].between(0, 3).all()
    summary = controlled.summary
    assert summary["target_kl"] == 5.0 and summary["achieved_kl"] == pytest.approx(steps["kl"].iloc[-1])
    assert summary["final_beta"] == controller.beta
    constant = train_setpoint(images, images[:64], 2.0, epochs=1, batch_size=64, lr=1e-3)
    assert (constant.history.steps["beta"] == 2.0).all() and constant.summary["target_kl"] is None
