"""Architectures and the model registry (no I/O, no timing): ``create_model``, ``list_models``.

A new architecture is one file here with ``@register_model`` functions, listed in ``BUILTIN_MODULES``
(or, outside this package, a plugin file: ``eapbench --plugin my_net.py``).
"""

# The modules whose @register_model decorators make the built-in list; imported on first use.
BUILTIN_MODULES = (
    "models.eapnet",
    "models.ahdr",
    "models.adnet",
    "models.references",
    "models.gsanet",
    "models.drhdr",
    "models.safnet",
    "models.hdr_transformer",
    "models.sctnet",
)

from models.registry import create_model, is_model, list_models, model_info, register_model  # noqa: E402

__all__ = ["BUILTIN_MODULES", "create_model", "is_model", "list_models", "model_info", "register_model"]
