"""wm: invisible, owner-specific watermarks for image-processing models.

The public surface: keys (``generate_key``, ``save_key``, ``load_key``), images (``read_image``,
``write_image``), the codec of a key's scheme (``codec_for``: the learned networks, ``WatermarkCodec``, or
the training-free ``SpectralCodec``), and the three verbs ``embed``, ``extract``, ``verify``.
"""

from .api import codec_for, embed, extract, extract_files, verify, verify_files
from .codec import DEFAULT_PSNR, WatermarkCodec
from .errors import WatermarkError
from .io import Picture, read_image, write_image
from .keys import OwnerKey, generate_key, load_key, save_key
from .spectral import SpectralCodec
from .verify import DEFAULT_FPR, Verdict

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_FPR",
    "DEFAULT_PSNR",
    "OwnerKey",
    "Picture",
    "SpectralCodec",
    "Verdict",
    "WatermarkCodec",
    "WatermarkError",
    "codec_for",
    "embed",
    "extract",
    "extract_files",
    "generate_key",
    "load_key",
    "read_image",
    "save_key",
    "verify",
    "verify_files",
    "write_image",
]
