"""The GAN family: ``nets`` (generator, discriminator/critic), ``losses`` (the ``Objective``
plug-ins: GAN, WGAN, SS-GAN) and the one training loop, whose public names are here:

    from nbhelpers.models import gan
    history = gan.train(G, D, objective, images, gan.GanConfig(epochs=20), name="gan")
"""
from nbhelpers.models.gan.loop import (GanConfig, GanHistory, WeightAverage, evaluation_epochs, grid_epochs,
                                        quarter_epochs, run_settings, sample_images, train)

__all__ = ["GanConfig", "GanHistory", "WeightAverage", "evaluation_epochs", "grid_epochs", "quarter_epochs",
           "run_settings", "sample_images", "train"]
