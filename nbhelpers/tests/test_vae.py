import math

import torch

from nbhelpers import data
from nbhelpers.models import vae


def test_shapes_and_ranges():
    model = vae.VAE(latent_dim=10, hidden=256)
    x = torch.rand(8, 1, 28, 28)
    logits, mu, logvar = model(x)
    assert logits.shape == x.shape and mu.shape == logvar.shape == (8, 10)
    for images in (model.sample(5), model.reconstruct(x), vae.latent_traversal(model, steps=4)):
        assert images.min() >= 0 and images.max() <= 1
    assert vae.latent_traversal(model, steps=4).shape == (40, 1, 28, 28)


def test_losses_match_closed_forms():
    x = torch.full((2, 1, 28, 28), 0.5)
    logits = torch.zeros_like(x)              # p = 0.5 everywhere: BCE = log 2 per pixel
    mu = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    logvar = torch.tensor([[0.0, math.log(4.0)], [0.0, 0.0]])
    recon, kl = vae.vae_losses(logits, x, mu, logvar)
    assert math.isclose(recon.item(), 784 * math.log(2), rel_tol=1e-6)
    # KL per image: 1/2 (mu^2 + s^2 - 1 - log s^2) summed: image 1 = 0.5 + 0.5 (4 - 1 - log 4), image 2 = 0
    expected = (0.5 + 0.5 * (3 - math.log(4))) / 2
    assert math.isclose(kl.item(), expected, rel_tol=1e-6)


def _train(seed, beta=1.0):
    torch.manual_seed(seed)
    images, _ = data.load_mnist("train", limit=512)
    model = vae.VAE()
    history = vae.train_vae(model, images, images[:128], epochs=2, batch_size=64, beta=beta, progress=False)
    return model, history


def test_same_seed_gives_identical_numbers():
    (model_a, history_a), (model_b, history_b) = _train(0), _train(0)
    assert history_a.steps[["recon", "kl"]].equals(history_b.steps[["recon", "kl"]])
    assert all(torch.equal(a, b) for a, b in zip(model_a.parameters(), model_b.parameters()))
    _, history_c = _train(1)
    assert not history_a.steps["recon"].equals(history_c.steps["recon"])


def test_training_reduces_the_loss_and_a_beta_rule_is_called_per_batch():
    seen = []
    def rule(observed_kl):
        seen.append(observed_kl)
        return 2.0
    _, history = _train(0, beta=rule)
    assert len(seen) == len(history.steps) == 2 * 512 // 64
    assert (history.steps["beta"] == 2.0).all()
    assert history.epochs["train_loss"].iloc[-1] < history.epochs["train_loss"].iloc[0]
    assert {"test_recon", "test_kl", "test_elbo"} <= set(history.epochs.columns)


def test_pca_2d_finds_the_dominant_axis():
    points = torch.zeros(100, 5)
    points[:, 3] = torch.linspace(-10, 10, 100)
    points[:, 1] = torch.linspace(-1, 1, 100).flip(0) * torch.tensor([1.0, -1.0]).repeat(50)
    xy = vae.pca_2d(points)
    assert xy.shape == (100, 2) and xy[:, 0].abs().max() > 9.9
