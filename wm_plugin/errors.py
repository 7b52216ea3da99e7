"""The exceptions the library raises on user mistakes, all under one base.

The library never prints, exits or asserts on user input: it raises one of these with a message that names
the bad value and says how to fix it. The CLI turns them into one ``Error:`` line and exit code 2.
"""

__all__ = [
    "WatermarkError",
    "KeyFileError",
    "ImageError",
    "WeightsError",
    "RegistryError",
    "AdapterError",
    "AdapterValidationError",
    "OutputExistsError",
    "ConfigError",
]


class WatermarkError(Exception):
    """Base of every error caused by user input (files, names, options)."""


class KeyFileError(WatermarkError):
    """An owner key file is missing, unreadable, malformed or of an unknown version."""


class ImageError(WatermarkError):
    """An image cannot be read or written, or a folder holds no images."""


class WeightsError(WatermarkError):
    """A weights file is missing, corrupt, or does not fit the network it names."""


class RegistryError(WatermarkError):
    """An unknown or duplicate name in one of the registries."""


class AdapterError(WatermarkError):
    """A framework adapter cannot be found or loaded."""


class AdapterValidationError(AdapterError):
    """A framework adapter does not implement the adapter contract."""


class OutputExistsError(WatermarkError):
    """An output path exists and overwriting was not asked for."""


class ConfigError(WatermarkError):
    """A framework config (BasicSR options YAML, MMagic config) is wrong; the message names the field."""
