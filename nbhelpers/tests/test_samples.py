"""A model's evaluation sample set drawn once (``samples.evaluation_samples``): the same tensor
while the draw, the model, the request and the tensor stay as they were, a new draw as soon as
any changes, and always the images the draw itself gives."""
import torch

from nbhelpers.metrics.samples import evaluation_samples
from nbhelpers.models import gan
from nbhelpers.models.gan import nets


def generator() -> torch.nn.Module:
    torch.manual_seed(0)
    return nets.Generator()


def test_the_same_request_to_the_same_generator_gets_the_same_tensor_with_the_draws_values():
    g = generator()
    first = evaluation_samples(gan.sample_images, g, 300, seed=7)
    assert evaluation_samples(gan.sample_images, g, 300, seed=7) is first
    assert torch.equal(first, gan.sample_images(g, 300, seed=7))

    def other_draw(model, count, seed):
        return gan.sample_images(model, count, seed=seed, batch_size=100)
    for draw, count, seed in ((gan.sample_images, 200, 7), (gan.sample_images, 300, 8), (other_draw, 300, 7)):
        assert evaluation_samples(draw, g, count, seed=seed) is not first
    assert (evaluation_samples(gan.sample_images, generator(), 300, seed=7)
            is not evaluation_samples(gan.sample_images, g, 300, seed=7))


def test_any_change_to_the_generator_or_the_samples_draws_anew():
    g = generator()
    optimizer = torch.optim.Adam(g.parameters(), lr=1e-2)

    def changes(change) -> bool:
        before = evaluation_samples(gan.sample_images, g, 100, seed=1)
        change()
        after = evaluation_samples(gan.sample_images, g, 100, seed=1)
        assert torch.equal(after, gan.sample_images(g, 100, seed=1))
        return after is not before

    def step():
        optimizer.zero_grad()
        g(torch.randn(8, g.latent_dim)).mean().backward()
        optimizer.step()

    def batch_norm_statistics():   # a forward pass in training mode moves the running statistics
        g.train()
        with torch.no_grad():
            g(torch.randn(8, g.latent_dim))

    def through_data():            # .data writes pass the version counter by
        next(g.parameters()).data.mul_(1.5)

    assert changes(step) and changes(batch_norm_statistics) and changes(through_data)
    assert changes(lambda: evaluation_samples(gan.sample_images, g, 100, seed=1).mul_(0.5))   # written into
    assert not changes(lambda: g.eval())   # a mode switch alone changes no tensor
