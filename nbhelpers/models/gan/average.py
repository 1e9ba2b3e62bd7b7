"""An exponential moving average of the generator's weights, the generator a run reports when
``GanConfig.ema_decay > 0``."""
import copy

import torch
from torch import nn
from torch.optim.swa_utils import update_bn

BATCHNORM_BATCHES = 32   # noise batches that measure the average's BatchNorm statistics


class WeightAverage:
    """Exponential moving average of a generator's weights (averaging the iterates of GAN
    training: Yazici et al. 2019, "The Unusual Effectiveness of Averaging in GAN Training").

    After generator update t = 0, 1, 2, ...:
        avg <- b_t * avg + (1 - b_t) * w_t,     b_t = min(decay, (1 + t) / (10 + t))
    The warm-up b_t (the ``num_updates`` rule of TensorFlow's ExponentialMovingAverage) keeps
    the early average close to the current weights, so it forgets the random initialisation
    within a few hundred steps; later the average spans about 1 / (1 - decay) steps. BatchNorm
    running statistics are averaged the same way while training, but those are not the
    statistics of the averaged network (its activations differ from every iterate's), so
    ``measure_batchnorm`` replaces them before the average is shown or evaluated; integer buffers
    are copied. The averaged copy is always in eval mode and never trained.
    """

    def __init__(self, module: nn.Module, decay: float):
        self.decay = decay
        self.module = copy.deepcopy(module).eval().requires_grad_(False)
        self.updates = 0
        pairs = list(zip(self.module.state_dict().values(), module.state_dict().values()))
        self._averaged = [(mine, now) for mine, now in pairs if mine.is_floating_point()]
        self._copied = [(mine, now) for mine, now in pairs if not mine.is_floating_point()]

    def warmup_decay(self, t: int) -> float:
        return min(self.decay, (1 + t) / (10 + t))

    @torch.no_grad()
    def update(self) -> None:
        """Fold in the tracked module's current weights (call after each optimiser step)."""
        weight = 1 - self.warmup_decay(self.updates)
        for mine, now in self._averaged:
            mine.lerp_(now, weight)            # mine + weight * (now - mine)
        for mine, now in self._copied:
            mine.copy_(now)
        self.updates += 1

    @torch.no_grad()
    def measure_batchnorm(self, batch_size: int, seed: int) -> None:
        """Replace the average's BatchNorm running statistics by those of its own activations:
        reset, then the plain mean over ``BATCHNORM_BATCHES`` forward passes of fixed noise
        (``seed``), as SWA does for its averaged weights (Izmailov et al. 2018;
        ``torch.optim.swa_utils.update_bn``). The same weights and seed give the same statistics."""
        device = next(self.module.parameters()).device
        noise = torch.Generator().manual_seed(seed)   # on the CPU: every device sees the same z
        batches = [torch.randn(batch_size, self.module.latent_dim, generator=noise).to(device)
                   for _ in range(BATCHNORM_BATCHES)]
        update_bn(batches, self.module)                # leaves the module in eval mode as it found it

    def state_dict(self) -> dict:
        return {"module": self.module.state_dict(), "updates": self.updates}

    def load_state_dict(self, state: dict) -> None:
        self.module.load_state_dict(state["module"])   # in place: the tracked pairs stay valid
        self.updates = state["updates"]
