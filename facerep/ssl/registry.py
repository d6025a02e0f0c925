"""`METHODS`: method name -> method class, filled by `@register_method` beside each method.

A method's file holds the method and its parameter model (a `MethodParams` subclass with the
paper's defaults), and registers both at once, as timm's `@register_model` keeps a model's default
configuration beside the model (STYLE.md). Every module in `facerep/ssl/methods/` is imported on
first use, and `facerep.ssl.config.PretrainParams` takes its `pretrain.<name>` sections from here,
so adding a method is adding that one file: no hand-kept list or parameter field elsewhere (DESIGN
sections 3 and 6; docs/extending.md).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from facerep.errors import InputError
from facerep.ssl.config import MethodParams

if TYPE_CHECKING:
    from facerep.ssl.base import Method

M = TypeVar("M", bound="type[Method]")
METHODS: dict[str, type[Method]] = {}


def register_method(name: str, params: type[MethodParams]) -> Callable[[M], M]:
    """Class decorator: record the class under `name` in METHODS, with `params` as the model of its
    `pretrain.<name>` section (set as the class's `.name` and `.params_model`)."""
    if not issubclass(params, MethodParams):
        raise TypeError(f"method {name!r}: params must subclass MethodParams, not {params!r}")

    def deco(cls: M) -> M:
        if name in METHODS and METHODS[name] is not cls:
            raise ValueError(f"method {name!r} registered twice")
        cls.name = name
        cls.params_model = params
        METHODS[name] = cls
        return cls

    return deco


def load_methods() -> dict[str, type[Method]]:
    """Import every module of facerep.ssl.methods (running their decorators) and return METHODS."""
    import facerep.ssl.methods as pkg

    for info in pkgutil.iter_modules(pkg.__path__):
        importlib.import_module(f"{pkg.__name__}.{info.name}")
    return METHODS


def method_params() -> dict[str, type[MethodParams]]:
    """Method name -> the model of its `pretrain.<name>` section, for every registered method."""
    return {name: cls.params_model for name, cls in load_methods().items()}


def get_method(name: str) -> type[Method]:
    methods = load_methods()
    if name not in methods:
        raise InputError(
            f"pretrain.method: unknown method {name!r}; choose one of {', '.join(sorted(methods))}"
        )
    return methods[name]
