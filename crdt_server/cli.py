"""The command line: one flag per settings field, defaults from the environment.

A bad value, from a flag or a ``CODEINTERVIEW_*`` variable, is a usage error
naming the setting as the user wrote it, never a traceback.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from .settings import Settings, env_for, flag_for


def build_parser(defaults: Settings) -> argparse.ArgumentParser:
    """An argparse parser with one flag per settings field; defaults come from the environment."""
    parser = argparse.ArgumentParser(
        prog="python -m crdt_server",
        description="CodeInterview collaboration server: REST and y-websocket on one port.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    for name, field in Settings.model_fields.items():
        annotation = field.annotation
        kind: Any = annotation if annotation in (int, float) else str
        if annotation is bool:
            kind = _boolean
        parser.add_argument(
            flag_for(name),
            dest=name,
            type=kind,
            default=getattr(defaults, name),
            help=f"{field.description} [env {env_for(name)}]",
        )
    return parser


def _boolean(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def parse_cli(argv: Sequence[str] | None = None) -> Settings:
    """Settings from the environment, overridden by command-line flags."""
    parser = build_parser(Settings.model_construct())
    try:
        defaults = Settings()
    except ValidationError as exc:
        parser.error(_describe(exc, env=True))
    parser = build_parser(defaults)
    args = parser.parse_args(argv)
    try:
        return Settings.model_validate(vars(args))
    except ValidationError as exc:
        parser.error(_describe(exc, env=False))


def _describe(exc: ValidationError, *, env: bool) -> str:
    """One line per invalid setting, named as the user wrote it."""
    parts = []
    for error in exc.errors(include_url=False):
        field = str(error["loc"][0]) if error["loc"] else "?"
        where = env_for(field) if env else flag_for(field)
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)
