"""Model registry: known models, where their weights live, pulling and verifying them."""

from codehearth.models.registry import ModelEntry, ModelError, Registry, check_gguf_file, models_dir

__all__ = ["ModelEntry", "ModelError", "Registry", "check_gguf_file", "models_dir"]
