"""Networks: embedder H, extractor R, discriminator D, built by name; weights as safetensors."""

from . import discriminator, embedder, extractor, timm_nets  # noqa: F401  (registers the variants)
from ._registry import create_net, is_net, list_nets, register_net
from .discriminator import PatchDiscriminator
from .embedder import Embedder
from .extractor import Extractor
from .weights import load_net, save_net

__all__ = [
    "Embedder",
    "Extractor",
    "PatchDiscriminator",
    "create_net",
    "is_net",
    "list_nets",
    "register_net",
    "load_net",
    "save_net",
]
