"""The PI controller against hand-computed values (nbhelpers/control.py has the equations)."""
import math

import pytest
import torch

from nbhelpers.models import control
from nbhelpers.models.control import PIController, p_term, simulate_anti_windup, tail_mean, train_setpoint


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


def test_simulation_shows_the_three_variants():
    # a fresh model (KL 0) asked for an unreachable KL 35 pins beta at 0, then the target drops to 14
    traces = simulate_anti_windup([(600, 35.0), (900, 14.0)], kp=0.01, ki=0.005, beta_min=0, beta_max=25,
                                  beta_init=1)
    assert set(traces["variant"]) == set(control.ANTI_WINDUP)
    end = traces[traces["step"] > 1300].groupby("variant")
    kl, beta = end["kl"].mean(), end["beta"].mean()
    assert kl["conditional"] == pytest.approx(14, abs=0.5)
    assert kl["clamped"] == pytest.approx(14, abs=1.5)   # wound-up: recovers, but later
    assert beta["freeze"] == 0.0                          # stuck at beta_min for good
    first_beta = traces[(traces["step"] > 600) & (traces["beta"] > 0.5)].groupby("variant")["step"].min()
    assert first_beta["conditional"] < first_beta["clamped"] - 100


def test_train_setpoint_tiny():
    images = torch.rand(256, 1, 28, 28)
    controller = PIController(5.0, kp=0.01, ki=0.01, beta_min=0.0, beta_max=3.0, beta_init=1.0)
    controlled = train_setpoint(images, images[:64], controller, epochs=1, batch_size=64, lr=1e-3)
    steps = controlled.history.steps
    assert len(steps) == 4 and steps["beta"].between(0, 3).all()
    summary = controlled.summary
    assert summary["target_kl"] == 5.0 and summary["achieved_kl"] == pytest.approx(steps["kl"].iloc[-1])
    assert summary["final_beta"] == controller.beta
    constant = train_setpoint(images, images[:64], 2.0, epochs=1, batch_size=64, lr=1e-3)
    assert (constant.history.steps["beta"] == 2.0).all() and constant.summary["target_kl"] is None


# --- Ki comparison ------------------------------------------------------------------------------

def _gain_rows():
    def row(target, ki, epochs, kl, recon, fid):
        return {"set point": target, "Ki": ki, "epochs": epochs, "achieved KL": kl, "settled beta": 1.0,
                "test recon": recon, "test KL": kl, "classifier FID": fid}
    return [row(8.0, 0.005, 4, 8.1, 120.0, 20.0), row(8.0, 0.005, 40, 8.0, 110.0, 10.0),
            row(8.0, 1e-4, 40, 8.3, 111.0, 10.5), row(14.0, 0.005, 40, 14.0, 100.0, 8.0),
            row(14.0, 1e-4, 40, 14.2, 99.0, 8.4)]


def test_gain_table_flags_the_runs_off_their_set_point():
    table = control.gain_table(_gain_rows())
    assert table.index.names == ["set point", "Ki", "epochs"] and len(table) == 5
    assert table["within 0.5 nats"].all()
    assert not control.gain_table(_gain_rows(), tolerance=0.25).loc[(8.0, 1e-4, 40), "within 0.25 nats"]
    with pytest.raises(ValueError, match="share a"):
        control.gain_table(_gain_rows() + _gain_rows()[:1])


def test_gain_effect_states_settling_and_the_paired_differences():
    table = control.gain_table(_gain_rows())
    text = control.gain_effect(table, paper_ki=1e-4, profile_ki=0.005, epochs=40)
    assert text.startswith("At 40 epochs both gains hold every set point within 0.5 nats.")
    assert "Ki 0.0001 minus Ki 0.005 (KL 8 / 14): achieved KL +0.30 / +0.20 nats" in text
    assert "test reconstruction +1.00 / -1.00 nats, classifier FID +0.50 / +0.40" in text
    assert "5.0% in classifier FID" in text and "1.0% in reconstruction" in text
    strict = control.gain_effect(table, 1e-4, 0.005, 40, tolerance=0.25)
    assert strict.startswith("At 40 epochs Ki 0.0001 leaves KL 8 at 8.30 (more than 0.25 nats off).")
    assert control.gain_effect(table, 1e-4, 0.005, 4).startswith("no pair of runs")
