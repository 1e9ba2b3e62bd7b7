"""Image sets as the metrics read them: checked tensors, and folders or .npz files from disk."""
import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image


def check_images(images, name: str = "images", grey_28: bool = False) -> torch.Tensor:
    """Images as [N, C, H, W], float in [0, 1] or uint8; ValueError with a fix otherwise.

    ``grey_28`` additionally requires [N, 1, 28, 28] (what the MNIST classifier reads).
    """
    if not isinstance(images, torch.Tensor):
        raise ValueError(f"{name}: expected a torch.Tensor [N, 1, 28, 28], got {type(images).__name__}")
    if images.ndim == 3:
        raise ValueError(f"{name}: shape {tuple(images.shape)} has no channel axis; "
                         f"use images.unsqueeze(1) to get [N, 1, H, W]")
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"{name}: expected [N, 1 or 3, H, W], got shape {tuple(images.shape)}")
    if grey_28 and tuple(images.shape[1:]) != (1, 28, 28):
        raise ValueError(f"{name}: the MNIST classifier needs [N, 1, 28, 28] grey images, "
                         f"got {tuple(images.shape)}")
    if len(images) < 2:
        raise ValueError(f"{name}: need at least 2 images, got {len(images)}")
    if images.dtype == torch.uint8:
        return images
    if not images.is_floating_point():
        raise ValueError(f"{name}: expected float in [0, 1] or uint8, got dtype {images.dtype}")
    low, high = images.min().item(), images.max().item()
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"{name}: images contain NaN or inf")
    if low < -1e-6 or high > 1 + 1e-6:
        raise ValueError(f"{name}: pixel values must lie in [0, 1], got [{low:.3g}, {high:.3g}] "
                         f"(tanh outputs: use (x + 1) / 2; logits: use torch.sigmoid)")
    return images


IMAGE_SUFFIXES = {".bmp", ".jpg", ".jpeg", ".pgm", ".png", ".ppm", ".tif", ".tiff", ".webp"}


def load_images(path) -> torch.Tensor:
    """uint8 [N, C, H, W] from a folder of images or an .npz with key ``images``.

    The .npz array is uint8 [N, H, W] (grey, as ``report.export_samples`` writes) or
    [N, H, W, C] with C in (1, 3); float arrays in [0, 1] are accepted and rounded to uint8.
    Folders: every image must have the same size; grey ('L') images stay one channel, all
    other modes become RGB (as pytorch-fid reads them). Colour images whose three channels
    are equal everywhere become one grey channel (same Inception input; the classifier
    needs grey).
    """
    images = _load_path(Path(path))
    if images.shape[1] == 3 and bool((images[:, :1] == images[:, 1:]).all()):
        images = images[:, :1].contiguous()
    return images


def _load_path(path: Path) -> torch.Tensor:
    if not path.exists():
        raise ValueError(f"{path}: no such file or folder")
    if path.is_dir():
        return _load_folder(path)
    if path.suffix != ".npz":
        raise ValueError(f"{path}: expected a folder of images or an .npz file")
    with np.load(path, allow_pickle=False) as archive:
        if "images" not in archive.files:
            hint = (" (it holds FID statistics mu/sigma; pass the images instead)"
                    if {"mu", "sigma"} <= set(archive.files) else "")
            raise ValueError(f"{path}: no array named 'images' (found {archive.files}){hint}")
        array = archive["images"]
    if array.ndim == 3:
        array = array[..., None]
    if array.ndim != 4 or array.shape[-1] not in (1, 3):
        raise ValueError(f"{path}: 'images' must be [N, H, W] or [N, H, W, C] with C in (1, 3), "
                         f"got shape {array.shape}")
    if len(array) == 0:
        raise ValueError(f"{path}: 'images' is empty")
    if array.dtype != np.uint8:
        if not np.issubdtype(array.dtype, np.floating):
            raise ValueError(f"{path}: 'images' must be uint8 (or float in [0, 1]), got {array.dtype}")
        low, high = float(array.min()), float(array.max())
        if not (0.0 <= low and high <= 1.0):
            raise ValueError(f"{path}: float 'images' must lie in [0, 1], got [{low:.3g}, {high:.3g}]; "
                             f"store uint8 0..255")
        array = np.rint(array * 255.0).astype(np.uint8)
    return torch.from_numpy(np.ascontiguousarray(array.transpose(0, 3, 1, 2)))


def _load_folder(folder: Path) -> torch.Tensor:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ValueError(f"{folder}: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in this folder")
    arrays, first = [], None
    for file in files:
        with Image.open(file) as image:
            array = np.asarray(image if image.mode == "L" else image.convert("RGB"))
        array = array[..., None] if array.ndim == 2 else array
        if first is None:
            first = (files[0].name, array.shape)
        elif array.shape[:2] != first[1][:2]:
            raise ValueError(f"{folder}: images differ in size: {first[0]} is {first[1][1]}x{first[1][0]}, "
                             f"{file.name} is {array.shape[1]}x{array.shape[0]}; resize them to one size first")
        arrays.append(array)
    if len({a.shape[-1] for a in arrays}) > 1:  # grey and colour mixed: all become RGB
        arrays = [np.repeat(a, 3, axis=-1) if a.shape[-1] == 1 else a for a in arrays]
    return torch.from_numpy(np.stack(arrays).transpose(0, 3, 1, 2).copy())

