"""Latent walks: linear and spherical interpolation, the traversal grid and the decoders."""
import math

import pytest
import torch

from nbhelpers.models import latent
from nbhelpers.models.gan import nets as gan_nets
from nbhelpers.models.vae import VAE, latent_traversal

pytestmark = pytest.mark.usefixtures("one_thread")


def endpoints(n=5, d=64, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=dtype), torch.randn(n, d, generator=g, dtype=dtype)


@pytest.mark.parametrize("method", [latent.lerp, latent.slerp])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_both_interpolations_return_their_endpoints_bit_for_bit_at_t_0_and_1(method, dtype):
    a, b = endpoints(dtype=dtype)
    path = method(a, b, torch.tensor([0.0, 0.3, 1.0]))
    assert torch.equal(path[:, 0], a)
    assert torch.equal(path[:, -1], b)


@pytest.mark.parametrize("method", [latent.lerp, latent.slerp])
def test_a_path_has_one_row_per_pair_one_step_per_t_and_the_latent_size(method):
    a, b = endpoints(n=3, d=10)
    assert method(a, b, torch.linspace(0, 1, 7)).shape == (3, 7, 10)
    assert method(a[0], b[0], [0.0, 0.5, 1.0]).shape == (1, 3, 10)   # one vector pair
    assert latent.interpolate(a, b, 9, "linear").shape == (3, 9, 10)


def test_linear_interpolation_is_the_weighted_mean_of_its_endpoints():
    a, b = endpoints(dtype=torch.float64)
    path = latent.lerp(a, b, [0.25])
    assert torch.allclose(path[:, 0], 0.75 * a + 0.25 * b)


def test_slerp_keeps_the_norm_between_endpoints_of_equal_norm():
    a, b = endpoints(dtype=torch.float64)
    b = b / b.norm(dim=1, keepdim=True) * a.norm(dim=1, keepdim=True)
    norms = latent.slerp(a, b, torch.linspace(0, 1, 11)).norm(dim=-1)
    assert torch.allclose(norms, a.norm(dim=1, keepdim=True).expand_as(norms), rtol=1e-12)


def test_slerp_moves_the_norm_linearly_between_endpoints_of_different_norm():
    a, b = endpoints(dtype=torch.float64)
    b = 3 * b
    t = torch.linspace(0, 1, 5, dtype=torch.float64)
    norms = latent.slerp(a, b, t).norm(dim=-1)
    expected = (1 - t) * a.norm(dim=1, keepdim=True) + t * b.norm(dim=1, keepdim=True)
    assert torch.allclose(norms, expected, rtol=1e-12)


def test_slerp_moves_at_constant_angular_speed_along_the_great_circle():
    a, b = endpoints(n=1, d=64, dtype=torch.float64)
    path = latent.slerp(a, b, torch.linspace(0, 1, 5))[0]
    unit = path / path.norm(dim=1, keepdim=True)
    angles = torch.arccos((unit[:-1] * unit[1:]).sum(1).clamp(-1, 1))
    assert torch.allclose(angles, angles[0].expand_as(angles), rtol=1e-9)
    total = torch.arccos((a[0] / a[0].norm()) @ (b[0] / b[0].norm()))
    assert math.isclose(angles.sum().item(), total.item(), rel_tol=1e-9)


def test_slerp_of_parallel_endpoints_is_the_straight_line_and_stays_finite():
    a = torch.randn(4, 16, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    t = torch.linspace(0, 1, 6)
    for b in (2.5 * a, a.clone()):   # same direction: longer, and identical
        path = latent.slerp(a, b, t)
        assert torch.isfinite(path).all()
        assert torch.allclose(path, latent.lerp(a, b, t), rtol=1e-12)


def test_slerp_of_opposite_or_zero_endpoints_falls_back_to_the_straight_line():
    a = torch.randn(2, 8, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    t = torch.linspace(0, 1, 5)
    for b in (-a, torch.zeros_like(a)):
        path = latent.slerp(a, b, t)
        assert torch.isfinite(path).all()
        assert torch.allclose(path, latent.lerp(a, b, t))


def test_the_straight_line_between_gaussian_draws_sags_to_about_sqrt_d_over_2_and_slerp_does_not():
    d = 64
    a, b = latent.gaussian_noise(2000, d, seed=0), latent.gaussian_noise(2000, d, seed=1)
    middle_linear = latent.path_norms(latent.interpolate(a, b, 3, "linear"))[1].item()
    middle_slerp = latent.path_norms(latent.interpolate(a, b, 3, "slerp"))[1].item()
    typical = latent.typical_norm(d)
    assert math.isclose(middle_linear, typical / math.sqrt(2), rel_tol=0.02)
    assert math.isclose(middle_slerp, typical, rel_tol=0.02)


def test_typical_norm_is_the_mean_norm_of_a_standard_gaussian():
    assert math.isclose(latent.typical_norm(1), math.sqrt(2 / math.pi))
    z = latent.gaussian_noise(20000, 10, seed=3)
    assert math.isclose(z.norm(dim=1).mean().item(), latent.typical_norm(10), rel_tol=0.01)


def test_t_outside_0_1_and_mismatched_endpoints_are_refused():
    a, b = endpoints()
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        latent.slerp(a, b, [0.0, 1.5])
    with pytest.raises(ValueError, match="shape"):
        latent.lerp(a, b[:, :3], [0.5])
    with pytest.raises(ValueError, match="method"):
        latent.interpolate(a, b, 5, "cubic")


def test_the_traversal_grid_varies_one_coordinate_per_block_around_its_centre():
    centre = torch.tensor([1.0, -2.0, 0.5])
    values = torch.tensor([-1.0, 0.0, 2.0])
    codes = latent.traversal_codes(centre, values).reshape(3, 3, 3)
    for j in range(3):
        others = [k for k in range(3) if k != j]
        assert torch.equal(codes[j, :, j], centre[j] + values)
        assert torch.equal(codes[j][:, others], centre[others].expand(3, 2))


def test_decoding_the_traversal_around_the_prior_mean_reproduces_the_vae_grid():
    torch.manual_seed(0)
    model = VAE(latent_dim=4, hidden=16)
    codes = latent.traversal_codes(torch.zeros(4), torch.linspace(-2.5, 2.5, 5))
    assert torch.allclose(latent.decode_vae(model, codes), latent_traversal(model, steps=5, span=2.5))


def test_the_vae_decoder_gives_probabilities_in_path_order_and_restores_training_mode():
    torch.manual_seed(0)
    model = VAE(latent_dim=10, hidden=16)
    paths = latent.interpolate(*endpoints(n=2, d=10), 4, "linear")
    images = latent.decode_vae(model, paths, batch_size=3)
    assert images.shape == (8, 1, 28, 28) and images.min() >= 0 and images.max() <= 1
    assert torch.allclose(images[5], torch.sigmoid(model.decode(paths[1, 1:2].float()))[0])
    assert model.training


def test_the_generator_decoder_maps_tanh_to_0_1_in_eval_mode_and_restores_training_mode():
    torch.manual_seed(0)
    generator = gan_nets.Generator()
    z = latent.gaussian_noise(6, generator.latent_dim, seed=0)
    images = latent.decode_generator(generator, z, batch_size=4)
    generator.eval()
    with torch.no_grad():
        expected = (generator(z) + 1) / 2
    generator.train()
    assert images.shape == (6, 1, 28, 28)
    assert torch.allclose(images, expected.clamp(0, 1))
    assert generator.training


def test_the_norm_text_has_one_line_per_method_with_one_value_per_step():
    a, b = endpoints(n=4, d=64)
    text = latent.norms_text({m: latent.interpolate(a, b, 5, m) for m in latent.METHODS})
    lines = text.splitlines()
    assert len(lines) == 3 and "N(0, I_64)" in lines[0]
    assert lines[1].split()[0] == "linear:" and len(lines[1].split()) == 6


def test_slerp_of_nearly_parallel_endpoints_stays_on_the_great_circle_close_to_the_line():
    a = torch.randn(3, 32, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    b = a + 1e-5 * torch.randn(3, 32, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    b = b / b.norm(dim=1, keepdim=True) * a.norm(dim=1, keepdim=True)
    t = torch.linspace(0, 1, 7)
    path = latent.slerp(a, b, t)
    norms = path.norm(dim=-1)
    assert torch.allclose(norms, a.norm(dim=1, keepdim=True).expand_as(norms), rtol=1e-12)
    assert torch.allclose(path, latent.lerp(a, b, t), atol=1e-9)
