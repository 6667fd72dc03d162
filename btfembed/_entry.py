"""Packages that are also the public function of the same name.

``btfembed.minimize`` and ``btfembed.build`` are both sub-packages (the
layers) and functions of the public API.  Importing a sub-package sets it
as an attribute of its parent, which would hide a function of that name, so
these two packages are made callable: ``btfembed.minimize(...)`` calls
``btfembed.minimize.api.minimize`` and ``btfembed.build(...)`` calls
``btfembed.build.run.build``, whatever was imported before.  The function is
imported on the first call (``__wrapped__``, which ``inspect.signature``
and ``help`` follow).
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any, Callable

__all__ = ["make_callable"]


class _CallablePackage(types.ModuleType):
    __entry__: tuple[str, str]

    @property
    def __wrapped__(self) -> Callable[..., Any]:
        module, name = self.__entry__
        func: Callable[..., Any] = getattr(importlib.import_module(module), name)
        return func

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.__wrapped__(*args, **kwargs)


def make_callable(package: str, module: str, name: str) -> None:
    """Make the (imported) package ``package`` call ``module.name``."""
    mod = sys.modules[package]
    mod.__class__ = _CallablePackage
    assert isinstance(mod, _CallablePackage)
    mod.__entry__ = (module, name)
