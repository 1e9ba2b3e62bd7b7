"""VAE training throughput: our loop (tensors resident on the device, batches sliced by a
random permutation) against the textbook loop (torchvision dataset + DataLoader), same model,
same optimiser, same number of images, measured back to back in one process."""
import time

import torch
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

from nbhelpers import data
from nbhelpers.device import pick_device
from nbhelpers.models import vae
from nbhelpers.paths import data_dir


def plain_dataloader_images_per_second(device, images: int, batch_size: int) -> float:
    dataset = datasets.MNIST(str(data_dir()), train=True, download=False, transform=transforms.ToTensor())
    subset = torch.utils.data.Subset(dataset, range(images))
    loader = DataLoader(subset, batch_size=batch_size, shuffle=True)
    model = vae.VAE().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    started = time.perf_counter()
    for x, _ in loader:
        x = x.to(device)
        logits, mu, logvar = model(x)
        recon, kl = vae.vae_losses(logits, x, mu, logvar)
        optimizer.zero_grad()
        (recon + kl).backward()
        optimizer.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return images / (time.perf_counter() - started)


def resident_images_per_second(device, images: int, batch_size: int) -> float:
    train_x, _ = data.load_mnist("train", device, limit=images)
    model = vae.VAE().to(device)
    history = vae.train_vae(model, train_x, None, epochs=1, batch_size=batch_size, progress=False)
    return history.images_per_second


def main(device: str = "auto", images: int = 30_000, batch_size: int = 128) -> dict:
    device = pick_device(device)
    data.load_mnist("train", device)  # the one-off disk read is not part of either loop
    torch.manual_seed(0)
    plain = plain_dataloader_images_per_second(device, images, batch_size)
    ours = resident_images_per_second(device, images, batch_size)
    print(f"VAE training on {device}, {images} images, batch {batch_size}")
    print(f"  torchvision DataLoader loop : {plain:10,.0f} images/s")
    print(f"  device-resident tensors     : {ours:10,.0f} images/s")
    print(f"  speed-up                    : {ours / plain:10.2f}x")
    return {"plain": plain, "ours": ours, "ratio": ours / plain}
