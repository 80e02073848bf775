"""The command line: one flag per settings field, defaults from the environment.

A bad value, from a flag or a ``CODEINTERVIEW_*`` variable, is a usage error
naming the setting as the user wrote it, never a traceback.
"""

from __future__ import annotations

import argparse
import ipaddress
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from .proxies import TrustedProxies
from .settings import Settings, env_for, flag_for
from .webhooks import WebhookConfigError, load_endpoints


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


def _explicit(defaults: Settings, argv: Sequence[str] | None) -> dict[str, Any]:
    """The settings the command line names (parsed again, with no defaults)."""
    parser = build_parser(defaults)
    for action in parser._actions:
        if action.dest != "help":
            action.default = argparse.SUPPRESS
    return vars(parser.parse_args(argv))


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
    parser.parse_args(argv)  # --help, and bad values, with the defaults shown
    # only what the environment or the command line gave: a default that follows another
    # setting (the commit window with --redis-url) is left to Settings
    given = {name: getattr(defaults, name) for name in defaults.model_fields_set}
    given.update(_explicit(defaults, argv))
    try:
        settings = Settings.model_validate(given)
    except ValidationError as exc:
        parser.error(_describe(exc, env=False))
    try:
        load_endpoints(settings)
    except WebhookConfigError as exc:
        parser.error(str(exc))
    try:
        TrustedProxies.parse(settings.trusted_proxies)
    except ValueError as exc:
        parser.error(f"--trusted-proxies: {exc}")
    if settings.auth_mode() == "token" and settings.auth_secret and len(settings.auth_secret) < 32:
        parser.error("--auth-secret: use at least 32 characters")
    if settings.auth_mode() == "none" and not _loopback(settings.host) and not settings.allow_open:
        parser.error(
            f"--host {settings.host} with --auth none would let anyone who reaches it read and "
            "change every session: use --auth token with --api-keys, or pass --allow-open"
        )
    return settings


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host == "localhost"


def _describe(exc: ValidationError, *, env: bool) -> str:
    """One line per invalid setting, named as the user wrote it."""
    parts = []
    for error in exc.errors(include_url=False):
        field = str(error["loc"][0]) if error["loc"] else "?"
        where = env_for(field) if env else flag_for(field)
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)
