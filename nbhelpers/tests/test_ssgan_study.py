"""SS-GAN study helpers: rotation-head read-outs, runs, ablation tables, failure verdicts (CPU, fast)."""
import matplotlib
import pandas as pd
import pytest
import torch
from torch import nn

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from nbhelpers.metrics import coverage  # noqa: E402
from nbhelpers.models import gan  # noqa: E402
from nbhelpers.models.gan import nets as gan_nets  # noqa: E402
from nbhelpers.models.gan.losses import NonSaturatingGAN, SelfSupervisedGAN, rotate_quarters  # noqa: E402
from nbhelpers.studies import gan_study, ssgan_study  # noqa: E402

from .gan_fakes import MemoryMetrics, StubEvaluator  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


def template() -> torch.Tensor:
    """An asymmetric 28x28 'digit' in [0, 1]: a bar along the top and one down the left side."""
    image = torch.zeros(1, 1, 28, 28)
    image[..., 3:6, 3:20] = 1.0
    image[..., 3:15, 3:6] = 1.0
    return image


class TemplateHead(nn.Module):
    """A stand-in discriminator whose rotation head compares the image with the template
    turned by 0, 90, 180, 270 degrees (the best match wins, ties go to 0 degrees)."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))
        turned = [torch.rot90(template() * 2 - 1, k, dims=(2, 3)).flatten() for k in range(4)]
        self.register_buffer("bank", torch.stack(turned))

    def features(self, images):
        return images.flatten(1)

    def rotation_logits(self, features):
        return self.scale * features @ self.bank.T


# ----------------------------------------------------------------------------- rotation head

def test_all_rotations_match_the_objectives_rotation_labels():
    images = torch.rand(8, 1, 28, 28)
    rotated, labels = rotate_quarters(images)              # what D is trained on
    turned = ssgan_study.all_rotations(images)
    assert turned.shape == (8, 4, 1, 28, 28)
    for i in range(8):
        assert torch.equal(rotated[i], turned[i, labels[i]])


def test_rotation_predictions_of_a_perfect_head_are_the_true_angles():
    images = template().repeat(5, 1, 1, 1)
    predicted = ssgan_study.rotation_predictions(TemplateHead(), images)
    assert predicted.shape == (5, 4)
    assert torch.equal(predicted, torch.arange(4).expand(5, 4))


def test_rotation_by_digit_shows_half_turn_confusion_and_symmetry():
    six = template()
    nine = torch.rot90(six, 2, dims=(2, 3))                 # a "9" is a "6" turned half a turn
    blank = torch.zeros(1, 1, 28, 28)                      # fully symmetric: every guess is "0 degrees"
    images = torch.cat([six, six, nine, blank])
    digits = torch.tensor([6, 6, 9, 0])
    table = ssgan_study.rotation_by_digit(TemplateHead(), images, digits)
    assert list(table.index) == [0, 6, 9]
    assert table.loc[6, "mean"] == 1.0 and table.loc[6, "n"] == 2
    assert table.loc[9, "mean"] == 0.0 and table.loc[9, "off by 180°"] == 1.0   # 9 read as a turned 6
    assert table.loc[0, "mean"] == 0.25 and table.loc[0, "0°"] == 1.0
    assert table.loc[0, "off by 180°"] == 0.25 and table.loc[0, "off by 90°"] == 0.5


def test_rotation_predictions_leave_the_discriminator_untouched():
    torch.manual_seed(0)
    discriminator = gan_nets.Discriminator(norm="spectral", rotation_head=True)
    discriminator(torch.randn(4, 1, 28, 28))               # one power iteration in training mode
    before = {k: v.clone() for k, v in discriminator.state_dict().items()}
    ssgan_study.rotation_predictions(discriminator, torch.rand(6, 1, 28, 28))
    assert discriminator.training
    after = discriminator.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)   # no spectral-norm update


def test_upright_share():
    images = torch.cat([template(), torch.rot90(template(), 1, dims=(2, 3))])
    assert ssgan_study.upright_share(TemplateHead(), images) == 0.5


# ----------------------------------------------------------------------------- objectives

def test_mixed_batch_objective_equals_the_engines_without_batchnorm_and_differs_with_it():
    real, fake = torch.rand(8, 1, 28, 28) * 2 - 1, torch.rand(8, 1, 28, 28) * 2 - 1
    for norm, same in (("none", True), ("batch", False)):
        torch.manual_seed(0)
        discriminator = gan_nets.Discriminator(norm=norm, rotation_head=True)
        torch.manual_seed(1)
        reference, _ = SelfSupervisedGAN().discriminator_loss(discriminator, real, fake)
        torch.manual_seed(1)
        mixed, stats = ssgan_study.MixedBatchSSGAN().discriminator_loss(discriminator, real, fake)
        assert torch.isclose(reference, mixed, atol=1e-5) == same, norm
        assert set(stats) == set(SelfSupervisedGAN.discriminator_stats)


def test_build_networks_is_seeded_and_sized_like_the_gan():
    g1, d1 = ssgan_study.build_networks(3)
    g2, d2 = ssgan_study.build_networks(3, norm="batch")
    assert torch.equal(next(g1.parameters()), next(g2.parameters()))
    assert d1.rotation_head is not None and d1.output == "logit" and d1.norm == "spectral"
    plain = gan_nets.Discriminator()
    assert d1.features(torch.zeros(2, 1, 28, 28)).shape == plain.features(torch.zeros(2, 1, 28, 28)).shape


def test_the_sngan_baseline_has_the_ssgans_discriminator_without_the_rotation_head():
    _, with_head = ssgan_study.build_networks(5)
    generator, without = ssgan_study.build_networks(5, rotation_head=False)
    assert without.rotation_head is None and without.norm == "spectral" and without.output == "logit"
    assert torch.equal(next(generator.parameters()), next(ssgan_study.build_networks(5)[0].parameters()))
    mine, theirs = without.state_dict(), with_head.state_dict()
    assert set(mine) == {k for k in theirs if not k.startswith("rotation_head.")}
    assert all(torch.equal(mine[k], theirs[k]) for k in mine)   # spectral norm's vectors u and v included


def test_rotation_weights_zero_give_the_plain_non_saturating_gradients():
    """SelfSupervisedGAN(alpha=0, beta=0) on the SS-GAN's D moves the networks as the plain
    non-saturating loss does (the rotation head gets no gradient): NonSaturatingGAN is its exact form."""
    import copy
    real, fake = torch.rand(8, 1, 28, 28) * 2 - 1, torch.rand(8, 1, 28, 28) * 2 - 1
    _, discriminator = ssgan_study.build_networks(0)
    grads = {}
    for name, objective in (("ssgan0", SelfSupervisedGAN(alpha=0.0, beta=0.0)), ("plain", NonSaturatingGAN())):
        d = copy.deepcopy(discriminator)
        loss, _ = objective.discriminator_loss(d, real, fake)
        generated = fake.clone().requires_grad_(True)
        g_loss, _ = objective.generator_loss(copy.deepcopy(discriminator), generated)
        loss.backward()
        g_loss.backward()
        grads[name] = ({k: p.grad for k, p in d.named_parameters()}, generated.grad)
    (ss, ss_g), (plain, plain_g) = grads["ssgan0"], grads["plain"]
    for key, grad in ss.items():
        if key.startswith("rotation_head."):
            assert plain[key] is None and torch.count_nonzero(grad) == 0
        else:
            torch.testing.assert_close(grad, plain[key], rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(ss_g, plain_g, rtol=1e-4, atol=1e-7)


def test_the_sngan_baseline_trains_and_records_rotation_weights_zero(tmp_path):
    images = torch.rand(32, 1, 28, 28)
    config = gan.GanConfig(epochs=2, batch_size=16, grid_samples=4, eval_every=1)
    result = ssgan_study.train("sngan", NonSaturatingGAN(), images, config, StubEvaluator(), tmp_path, log=None)
    assert result.finished and result.final is not None
    assert result.discriminator.rotation_head is None and result.discriminator.norm == "spectral"
    assert "rotation_accuracy_real" not in result.history.steps
    entry = gan_study.record(MemoryMetrics(), result, **ssgan_study.record_fields(result))
    assert entry["alpha"] == 0.0 and entry["beta"] == 0.0 and entry["rotation_head"] is False
    assert entry["objective"] == {"name": "gan"} and entry["d_norm"] == "spectral"
    assert entry["final_rotation_accuracy"] == {"real": None, "fake": None}
    assert (tmp_path / "models" / "sngan_generator.pt").exists()


def test_alpha_names():
    assert ssgan_study.alpha_name(0.0) == "ssgan_alpha0"
    assert ssgan_study.alpha_name(0.2) == "ssgan_alpha0.2"
    assert ssgan_study.alpha_name(1) == "ssgan_alpha1"


# ----------------------------------------------------------------------------- runs (stub evaluator)

def test_train_records_and_reloads(tmp_path):
    images = torch.rand(32, 1, 28, 28)
    config = gan.GanConfig(epochs=2, batch_size=16, grid_samples=4, eval_every=1)
    result = ssgan_study.train("ssgan_test", SelfSupervisedGAN(alpha=0.5), images, config, StubEvaluator(), tmp_path,
                               train_limit=16, log=None)
    assert result.finished and result.train_images == 16 and result.final is not None
    assert result.discriminator.rotation_head is not None and result.discriminator.norm == "spectral"
    assert [r["epoch"] for r in result.fid_rows()] == [1, 2]
    assert (tmp_path / "models" / "ssgan_test_generator.pt").exists()
    view = ssgan_study.generator_view(result.history, 0.5)
    assert len(view) == len(result.history.steps) and ((view > 0) & (view < 1)).all()
    accuracy = ssgan_study.final_rotation_accuracy(result.history)
    assert 0 <= accuracy["real"] <= 1 and 0 <= accuracy["fake"] <= 1

    entry = gan_study.record(MemoryMetrics(), result, **ssgan_study.record_fields(result))
    assert entry["alpha"] == 0.5 and entry["epochs"] == 2 and entry["train_images"] == 16
    assert entry["fid_halving"]["ratio"] == pytest.approx(0.5)
    again = ssgan_study.train("ssgan_test", SelfSupervisedGAN(alpha=0.5), images, config, StubEvaluator(), tmp_path,
                              train_limit=16, log=None)   # from the checkpoint
    assert again.history.training_seconds == result.history.training_seconds

    table = ssgan_study.results_table({"a": result, "b": again})
    assert list(table.index) == ["a", "b"] and table["digits covered"].tolist() == [8, 8]
    assert table["largest digit share"].tolist() == [0.125, 0.125]
    shares = ssgan_study.digit_shares({"a": result})
    assert shares.loc["a", 9] == 0 and shares.loc["a"].sum() == pytest.approx(1)
    fig, axes = plt.subplots(1, 2)
    ssgan_study.plot_rotation_training(axes[0], result.history)
    coverage.plot_digit_shares(axes[1], dict(shares.iterrows()))
    plt.close(fig)
    plt.close(ssgan_study.plot_demo({"a": result, "b": again}))


def test_failure_verdicts_name_the_damaging_runs():
    table = pd.DataFrame({"fid": [40.0, 36.0, 88.0, 42.0], "digits covered": [9, 10, 3, 8]},
                         index=["correct", "leak", "batchnorm", "lost a digit"])
    lines = ssgan_study.failure_verdicts(table, "correct", "fid")
    assert lines[0].startswith("leak: classifier FID 36.00 = x0.90") and lines[0].endswith("no clear damage at this length")
    assert lines[1].endswith("-> damaging") and "3/10 digits" in lines[1]
    assert lines[2].endswith("-> damaging")               # FID fine, but a digit lost
    assert lines[-1] == "most damaging here: batchnorm"
    calm = ssgan_study.failure_verdicts(table.loc[["correct", "leak"]], "correct", "fid")
    assert calm[-1] == "no failure mode did clear damage at this length"
