"""JSON in and out of the service, strictly: what Python's ``json`` lets through, refused.

Python's parser accepts NaN and Infinity, turns ``1e400`` into ``inf``, decodes lone
surrogates (``"\\ud800"``) into strings no UTF-8 encoder takes, and raises RecursionError on
deep nesting. Each of those later broke a handler far from the parser. :func:`loads` refuses
them up front with a ``ValueError``; :func:`dumps` always produces sendable text.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

#: A \\u escape of a surrogate half: only then can a parsed string hold a lone surrogate.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


class JsonRejected(ValueError):
    """Not JSON this service accepts; the message says why."""


def _constant(name: str) -> Any:
    raise JsonRejected(f"{name} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise JsonRejected(f"number {text[:20]} is out of range")
    return value


#: One decoder for every call: ``json.loads`` with hooks builds a new one each time, which
#: cost as much as the parse of an awareness state (ten a second per cursor).
_DECODER = json.JSONDecoder(parse_constant=_constant, parse_float=_finite)


def loads(raw: str | bytes) -> Any:
    """Parse ``raw``; raises JsonRejected for invalid, too deep, non-finite or unencodable JSON."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        value = _DECODER.decode(text)
    except RecursionError:
        raise JsonRejected("JSON nested too deeply") from None
    except JsonRejected:
        raise
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        raise JsonRejected(f"invalid JSON: {exc}") from None
    if _SURROGATE_ESCAPE.search(text):
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise JsonRejected("a string holds a lone surrogate (invalid Unicode)") from None
    return value


def dumps(value: Any) -> str:
    """Compact JSON text that always encodes as UTF-8 (lone surrogates are escaped)."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(value, separators=(",", ":"))
    return text
