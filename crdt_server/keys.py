"""Application state the live side needs, as typed ``AppKey``s (REST re-exports them)."""

from __future__ import annotations

from aiohttp import web

from storage import Storage

from .live import Live
from .settings import Settings

SETTINGS = web.AppKey("settings", Settings)
STORAGE = web.AppKey("storage", Storage)
LIVE = web.AppKey("live", Live)
