"""Which engine a ``--db`` value names: a ``postgresql://`` URL, else a SQLite file."""

from __future__ import annotations

from .base import Storage
from .postgres import PostgresStorage, redacted
from .sqlite import SQLiteStorage

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def is_postgres(target: str) -> bool:
    return target.startswith(POSTGRES_SCHEMES)


def storage_for(target: str) -> Storage:
    """The storage ``target`` names: PostgreSQL for a URL, SQLite for a path or ``:memory:``."""
    return PostgresStorage(target) if is_postgres(target) else SQLiteStorage(target)


def describe(target: str) -> str:
    """``target`` as it may be logged (a URL's password left out)."""
    return redacted(target) if is_postgres(target) else target
