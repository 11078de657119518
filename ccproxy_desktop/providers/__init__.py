"""Provider presets, model discovery and the `provider test` probe (see docs/providers.md)."""

from .presets import PRESETS, Preset, PresetModel, preset

__all__ = ["PRESETS", "Preset", "PresetModel", "preset"]
