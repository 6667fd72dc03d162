"""TOML text to data, with the standard library's ``tomllib`` (``tomli``
before Python 3.11), imported on first use: most runs read no TOML."""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["InvalidTOML", "parse_toml"]


class InvalidTOML(ValueError):
    """The text is not TOML (the message names the parser's error)."""


def parse_toml(text: str) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError) as exc:
        raise InvalidTOML(f"{exc.__class__.__name__}: {exc}") from None
    return data
