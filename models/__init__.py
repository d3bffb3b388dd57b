"""Architectures and the model registry (no I/O, no timing): ``create_model``, ``list_models``."""

from models.registry import create_model, is_model, list_models, model_info, register_model

__all__ = ["create_model", "is_model", "list_models", "model_info", "register_model"]
