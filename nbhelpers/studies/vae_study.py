"""The VAE study (notebook 01): its loss curves, reconstructions, a look at the latent space,
the sample sets it scores and the record of the trained model; and the spread of a VAE's KL over
examples and over batches, which 02 records for its controlled VAEs (``kl_feedback_spread``).

    fig = vae_study.plot_epoch_losses(history)
    sets = vae_study.sample_sets(model, prior, test_x[:n], threshold, device)
    results = vae_study.score(evaluator, metrics, sets)
"""
import matplotlib.pyplot as plt
import pandas as pd
import torch

from nbhelpers import data
from nbhelpers.models import latent, vae
from nbhelpers.report import plots

LOSSES = {"recon": "reconstruction loss", "kl": "KL loss", "loss": "total loss (-ELBO)"}


def plot_epoch_losses(history: vae.History):
    """Train and test reconstruction, KL and total loss per epoch, one panel each."""
    epochs = history.epochs
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for ax, (key, title) in zip(axes, LOSSES.items()):
        plots.curves(ax, {"train": epochs[f"train_{key}"], "test": epochs[f"test_{key}"]},
                     ylabel="nats / image", title=title, x=epochs["epoch"])
    fig.tight_layout()
    return fig


def plot_step_losses(history: vae.History):
    """Reconstruction (log scale) and KL loss per training step, smoothed over about 0.5 % of
    the run: the trade-off of the first epoch."""
    window = max(1, len(history.steps) // 200)
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.5))
    plots.curves(axes[0], {"reconstruction": history.steps["recon"]}, xlabel="step", ylabel="nats / image",
                 title="reconstruction loss per step", window=window, logy=True)
    plots.curves(axes[1], {"KL": history.steps["kl"]}, xlabel="step", ylabel="nats / image",
                 title="KL loss per step", window=window)
    fig.tight_layout()
    return fig


def plot_reconstructions(model: vae.VAE, originals: torch.Tensor):
    """Test digits (odd columns) beside their reconstructions from the posterior mean."""
    pairs = torch.stack([originals, model.reconstruct(originals)], dim=1).reshape(-1, 1, 28, 28)
    return plots.show_grids({"test digits (odd columns) and reconstructions (even)": pairs}, nrow=10, size=6)


def plot_latent_space(model: vae.VAE, images: torch.Tensor, digits: torch.Tensor):
    """Left: the posterior means of ``images`` on their two principal axes, coloured by
    ``digits``; right: the traversal of each latent coordinate around the prior mean."""
    xy = vae.pca_2d(vae.latent_means(model, images)).cpu().numpy()
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.5))
    scatter = axes[0].scatter(xy[:, 0], xy[:, 1], c=digits.cpu().numpy(), cmap="tab10", s=4)
    axes[0].legend(*scatter.legend_elements(), title="digit", loc="best", fontsize=8)
    axes[0].set(title="posterior means, first two principal axes", xlabel="PC 1", ylabel="PC 2")
    plots.image_grid(axes[1], vae.latent_traversal(model), nrow=10, title="latent traversal (row = dimension)")
    fig.tight_layout()
    return fig


def plot_latent_walks(model: vae.VAE, images: torch.Tensor, digits: torch.Tensor, centre_digit: int = 3,
                      span: float = 2.5, steps: int = 10):
    """Left: the traversal of every coordinate over [-span, span] around the code (posterior
    mean) of the first test ``centre_digit``; right: straight lines between the codes of the
    first 0 and 1, 2 and 3, ..., 8 and 9, decoded at ``steps`` points."""
    first_of_each_digit = [int((digits == d).nonzero()[0]) for d in range(10)]
    codes = vae.latent_means(model, images[first_of_each_digit])        # row d: the code of a test d
    around = latent.decode_vae(model, latent.traversal_codes(codes[centre_digit], torch.linspace(-span, span, steps)))
    walks = latent.decode_vae(model, latent.interpolate(codes[0::2], codes[1::2], steps, "linear"))
    fig, axes = plt.subplots(1, 2, figsize=(13, 6.5))
    plots.image_grid(axes[0], around, nrow=steps,
                     title=f"traversal around the code of a test {centre_digit} (row = dimension)")
    plots.image_grid(axes[1], walks, nrow=steps, title="straight lines between codes: 0 → 1, 2 → 3, 4 → 5, 6 → 7, 8 → 9")
    fig.tight_layout()
    return fig


def sample_sets(model: vae.VAE, prior: torch.Tensor, test_images: torch.Tensor, threshold: float,
                device) -> dict[str, tuple[str, torch.Tensor]]:
    """What the notebook scores, model key -> (label, images): the prior samples, raw and
    binarised at ``threshold``, the reconstructions of ``test_images``, and as many real
    training digits (the floor a perfect generator would reach)."""
    real_train, _ = data.load_mnist("train", device, limit=len(prior))
    return {"vae_prior": ("prior samples", prior),
            "vae_prior_thresholded": (f"prior samples, threshold {threshold}", (prior > threshold).float()),
            "vae_reconstructions": ("test reconstructions", model.reconstruct(test_images)),
            "mnist_train": ("MNIST train images (floor)", real_train)}


INCEPTION_SETS = ("vae_prior", "mnist_train")   # the model's samples and the floor at the same N


def score(evaluator, metrics, sets: dict[str, tuple[str, torch.Tensor]],
          inception_all_sets: bool = True) -> dict[str, dict]:
    """Evaluate every set of ``sample_sets`` and record it under its key: label -> evaluation.
    Without ``inception_all_sets`` only ``INCEPTION_SETS`` are scored in Inception's features
    (and by KID); the thresholded samples and the reconstructions in the classifier's only."""
    results = {}
    for key, (label, images) in sets.items():
        full = inception_all_sets or key in INCEPTION_SETS
        results[label] = evaluator.evaluate(images, kid=full, inception=full)
        metrics.update_model(key, **results[label])
    return results


def final_table(final: dict, history: vae.History, epochs: int) -> pd.DataFrame:
    """The trained model's test losses (``vae.evaluate``), training length and speed, one row."""
    return pd.DataFrame([{"model": "VAE (beta = 1)", "test reconstruction (nats)": final["recon"],
                          "test KL (nats)": final["kl"], "test ELBO (nats)": final["elbo"],
                          "epochs": epochs, "train images/s": history.images_per_second}])


def final_fields(final: dict, history: vae.History, epochs: int) -> dict:
    """The record of model ``vae``: the same numbers, the per-epoch history and its ``early_epochs``."""
    return {"test_recon": final["recon"], "test_kl": final["kl"], "test_elbo": final["elbo"], "epochs": epochs,
            "train_images_per_second": history.images_per_second, "history": history.epochs.to_dict(orient="list"),
            "early_epochs": early_epochs(history)}


def early_epochs(history: vae.History) -> dict:
    """What the run shows of the report's "early epochs drive reconstruction down while KL rises
    sharply" (section 1.3): the training reconstruction and KL (means over each epoch's batches,
    nats per image) of the first quarter of the epochs, at least two when the run has two, and
    their change from the first of those epochs to the last (None with one epoch):
    {"epoch", "train_recon", "train_kl", "recon_change", "kl_change"}. One run of one seed (the cpu
    profile runs 01 for its first evaluation seed only): a description, not a test over seeds."""
    table = history.epochs
    early = table.head(min(len(table), max(2, len(table) // 4)))
    recon, kl = early["train_recon"].tolist(), early["train_kl"].tolist()
    return {"epoch": [int(e) for e in early["epoch"]], "train_recon": recon, "train_kl": kl,
            "recon_change": recon[-1] - recon[0] if len(recon) > 1 else None,
            "kl_change": kl[-1] - kl[0] if len(kl) > 1 else None}


@torch.no_grad()
def kl_feedback_spread(model: vae.VAE, images: torch.Tensor, batch_size: int, seed: int) -> dict:
    """How much steadier the batch-mean KL is than one example's KL as a controller's feedback (the
    report, section 1.4: the batch mean is "more robust, lower variance"), measured on ``model``.

    The KL(q(z|x) || N(0, I)) of every image (``vae.vae_losses``' KL term, from the encoder's mean
    and log-variance: no sampling), then two standard deviations (ddof 1): ``example_std``, of the
    per-example KL over the images (how one example's feedback would scatter from step to step),
    and ``batch_mean_std``, of the batch means over batches of ``batch_size`` (how the batch-mean
    feedback scatters; a random split from its own generator seeded by ``seed``, the last partial
    batch left out); ``ratio`` = example_std / batch_mean_std, about sqrt(batch_size) for
    independent examples. On fixed weights only the choice of examples moves the feedback: this is
    the spread of training's feedback from batch to batch at the model's final state."""
    codes = [model.encode(images[i:i + 1000]) for i in range(0, len(images), 1000)]
    kl = torch.cat([0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(1) for mu, logvar in codes]).double().cpu()
    batches = len(kl) // batch_size
    if batches < 2:
        raise ValueError(f"KL feedback spread: {len(kl)} images make fewer than 2 batches of {batch_size}")
    order = torch.randperm(len(kl), generator=torch.Generator().manual_seed(seed))[:batches * batch_size]
    example_std, batch_mean_std = kl.std().item(), kl[order].reshape(batches, batch_size).mean(1).std().item()
    return {"batch_size": batch_size, "examples": len(kl), "batches": batches, "mean_kl": kl.mean().item(),
            "example_std": example_std, "batch_mean_std": batch_mean_std, "ratio": example_std / batch_mean_std}
