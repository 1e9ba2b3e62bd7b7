"""The GAN family: ``nets`` (generator, discriminator/critic), ``losses`` (the ``Objective``
plug-ins: GAN, WGAN, SS-GAN) and the one training loop (``loop``), with its settings and
checkpoint key (``settings``), history (``history``) and checkpoint (``checkpoint``). The
public names are here:

    from nbhelpers.models import gan
    history = gan.train(G, D, objective, images, gan.GanConfig(epochs=20), name="gan")
"""
from nbhelpers.models.gan.history import GanHistory
from nbhelpers.models.gan.loop import sample_images, train
from nbhelpers.models.gan.settings import GanConfig, evaluation_epochs, grid_epochs, quarter_epochs, run_settings

__all__ = ["GanConfig", "GanHistory", "evaluation_epochs", "grid_epochs", "quarter_epochs", "run_settings",
           "sample_images", "train"]
