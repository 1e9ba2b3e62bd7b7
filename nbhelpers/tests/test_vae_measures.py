"""What the VAE studies measure for the claims beside their curves (nbhelpers.studies.vae_study):
the first epochs' reconstruction and KL (01), and how much the batch-mean KL steadies the
controller's feedback against one example's KL (02)."""
import math

import pandas as pd
import pytest
import torch

from nbhelpers.models import vae
from nbhelpers.studies import vae_study

pytestmark = pytest.mark.usefixtures("one_thread")


def history_of(recon, kl) -> vae.History:
    epochs = pd.DataFrame({"epoch": range(1, len(recon) + 1), "train_recon": recon, "train_kl": kl})
    return vae.History(steps=pd.DataFrame(), epochs=epochs)


def test_the_early_epochs_are_the_first_quarter_of_the_run_at_least_two_with_their_changes():
    recon, kl = [160.0, 110.0, 105.0, 102.0, 100.0] + [99.0] * 15, [13.0, 16.0, 17.0, 17.1, 17.3] + [17.5] * 15
    early = vae_study.early_epochs(history_of(recon, kl))
    assert early["epoch"] == [1, 2, 3, 4, 5] and early["train_recon"] == recon[:5] and early["train_kl"] == kl[:5]
    assert early["recon_change"] == pytest.approx(-60.0) and early["kl_change"] == pytest.approx(4.3)
    assert vae_study.early_epochs(history_of(recon[:3], kl[:3]))["epoch"] == [1, 2]
    one = vae_study.early_epochs(history_of([160.0], [13.0]))
    assert one["epoch"] == [1] and one["recon_change"] is None and one["kl_change"] is None


def test_the_kl_feedback_spread_compares_one_examples_kl_with_the_batch_means_from_its_own_generator():
    torch.manual_seed(0)
    model = vae.VAE()
    images = torch.rand(1000, 1, 28, 28)
    state = torch.get_rng_state()
    spread = vae_study.kl_feedback_spread(model, images, batch_size=64, seed=3)
    assert torch.equal(torch.get_rng_state(), state)                       # the global random state is untouched
    mu, logvar = model.encode(images)
    kl = (0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(1)).double().detach()
    assert spread["mean_kl"] == pytest.approx(kl.mean().item()) and spread["example_std"] == pytest.approx(kl.std().item())
    assert (spread["examples"], spread["batches"], spread["batch_size"]) == (1000, 15, 64)
    order = torch.randperm(1000, generator=torch.Generator().manual_seed(3))[:15 * 64]
    assert spread["batch_mean_std"] == pytest.approx(kl[order].reshape(15, 64).mean(1).std().item())
    assert spread["ratio"] == pytest.approx(spread["example_std"] / spread["batch_mean_std"])
    assert 0.5 * math.sqrt(64) < spread["ratio"] < 2 * math.sqrt(64)      # independent examples: about sqrt(64)
    assert vae_study.kl_feedback_spread(model, images, 64, seed=3) == spread
    with pytest.raises(ValueError, match="100 images make fewer than 2 batches of 64"):
        vae_study.kl_feedback_spread(model, images[:100], 64, seed=3)


class Recorded:
    """What ``vae_study.score`` asks of an evaluator and a record, kept in memory."""

    def __init__(self):
        self.calls, self.models = [], {}

    def evaluate(self, images, kid=True, inception=True):
        self.calls.append((len(images), kid, inception))
        return {"kid": kid, "inception": inception}

    def update_model(self, key, **values):
        self.models[key] = values


@pytest.mark.parametrize("all_sets, scored_in_inception", [(True, [True] * 4), (False, [True, False, False, True])])
def test_inception_scores_the_prior_samples_and_the_floor_or_every_set(all_sets, scored_in_inception):
    sets = {key: (key.replace("_", " "), torch.zeros(n, 1, 28, 28)) for n, key in
            enumerate(("vae_prior", "vae_prior_thresholded", "vae_reconstructions", "mnist_train"), 1)}
    recorded = Recorded()
    results = vae_study.score(recorded, recorded, sets, inception_all_sets=all_sets)
    assert [call[2] for call in recorded.calls] == scored_in_inception == [call[1] for call in recorded.calls]
    assert list(results) == [label for label, _ in sets.values()] and list(recorded.models) == list(sets)
