"""The architectures by name (``--arch msdnet|unet|unetpp``) and their default hyper-parameters."""

from __future__ import annotations

from typing import Any, Mapping

from torch import nn

from ..errors import TemnnError
from .blocks import Network
from .msdnet import MSDNet
from .unet import UNet
from .unetpp import UNetPlusPlus

__all__ = ["ARCHITECTURES", "build_model", "build_from_config", "count_parameters", "unwrap"]

ARCHITECTURES: dict[str, type[Network]] = {"msdnet": MSDNet, "unet": UNet, "unetpp": UNetPlusPlus}
"""Architecture name → class. Each class takes ``(in_channels, out_channels, **hyperparameters)``."""


def build_model(arch: str, in_channels: int, out_channels: int, **hyperparameters: Any) -> Network:
    """Build a network by name.

    Parameters
    ----------
    arch : str
        ``"msdnet"``, ``"unet"`` or ``"unetpp"``.
    in_channels : int
        Input channels: images in the focal series.
    out_channels : int
        Output channels: channels of the label.
    **hyperparameters
        Architecture options (see :class:`~temnn.nn.MSDNet`, :class:`~temnn.nn.UNet`,
        :class:`~temnn.nn.UNetPlusPlus`); ``None`` values take the architecture's default.

    Returns
    -------
    Network
        The network (weights initialised from torch's global random generator).
    """
    cls = ARCHITECTURES.get(arch)
    if cls is None:
        raise TemnnError(f"--arch must be one of {', '.join(ARCHITECTURES)}, got {arch!r}")
    options = {k: v for k, v in hyperparameters.items() if v is not None}
    try:
        return cls(in_channels, out_channels, **options)
    except TypeError as err:
        raise TemnnError(f"{arch}: unknown or misplaced option ({err}); see `temnn train --help`") from None


def build_from_config(config: Mapping[str, Any], *, source: str = "model card") -> Network:
    """Rebuild a network from :attr:`Network.config` (as stored in a model card).

    Parameters
    ----------
    config
        ``{"name", "input_channels", "output_channels", "hyperparameters"}``.
    source
        Where ``config`` came from (the card's file name), for error messages.
    """
    for field in ("name", "input_channels", "output_channels", "hyperparameters"):
        if field not in config:
            raise TemnnError(f"{source}: 'architecture' lacks the field '{field}'")
    if config["name"] not in ARCHITECTURES:
        raise TemnnError(f"{source}: 'architecture.name' must be one of {', '.join(ARCHITECTURES)}, "
                         f"got {config['name']!r}")
    for field in ("input_channels", "output_channels"):
        value = config[field]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise TemnnError(f"{source}: 'architecture.{field}' must be a positive integer, got {value!r}")
    if not isinstance(config["hyperparameters"], Mapping):
        raise TemnnError(f"{source}: 'architecture.hyperparameters' must be an object of options, "
                         f"got {config['hyperparameters']!r}")
    return build_model(
        config["name"], config["input_channels"], config["output_channels"], **config["hyperparameters"]
    )


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters (elements of tensors with ``requires_grad``)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def unwrap(model: nn.Module) -> Network:
    """The network inside a :class:`~torch.nn.parallel.DistributedDataParallel` or compiled wrapper."""
    while not isinstance(model, Network):
        inner = getattr(model, "module", None) or getattr(model, "_orig_mod", None)
        if inner is None:
            raise TemnnError(f"not a temnn network: {type(model).__name__}")
        model = inner
    return model
