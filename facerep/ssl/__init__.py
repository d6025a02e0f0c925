"""Self-supervised pre-training: backbones, multi-crop, losses, methods and the training engine.

`facerep.ssl.METHODS` (name -> method class) is loaded on first access, so importing the parameter
models (`facerep.ssl.config`) does not import torch.
"""

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "METHODS":
        from facerep.ssl.registry import load_methods

        return load_methods()
    raise AttributeError(name)
