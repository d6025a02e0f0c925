"""`METHODS`: method name -> method class, filled by the `@register` decorator beside each method.

Every module in `facerep/ssl/methods/` is imported on first use, so adding a method is adding a file:
there is no hand-kept list to edit (DESIGN sections 3 and 6).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from facerep.errors import InputError

if TYPE_CHECKING:
    from facerep.ssl.base import Method

M = TypeVar("M", bound="type[Method]")
METHODS: dict[str, type[Method]] = {}


def register(name: str) -> Callable[[M], M]:
    """Class decorator: record the class under `name` in METHODS (and as its `.name`)."""

    def deco(cls: M) -> M:
        if name in METHODS and METHODS[name] is not cls:
            raise ValueError(f"method {name!r} registered twice")
        cls.name = name
        METHODS[name] = cls
        return cls

    return deco


def load_methods() -> dict[str, type[Method]]:
    """Import every module of facerep.ssl.methods (running their decorators) and return METHODS."""
    import facerep.ssl.methods as pkg

    for info in pkgutil.iter_modules(pkg.__path__):
        importlib.import_module(f"{pkg.__name__}.{info.name}")
    return METHODS


def get_method(name: str) -> type[Method]:
    methods = load_methods()
    if name not in methods:
        raise InputError(
            f"pretrain.method: unknown method {name!r}; choose one of {', '.join(sorted(methods))}"
        )
    return methods[name]
