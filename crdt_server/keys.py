"""Application state the live side needs, as typed ``AppKey``s (REST re-exports them)."""

from __future__ import annotations

from aiohttp import web

from storage import Storage

from .presence import Presence
from .rooms import RoomManager
from .settings import Settings
from .update_log import UpdateLog

SETTINGS = web.AppKey("settings", Settings)
STORAGE = web.AppKey("storage", Storage)
UPDATE_LOG = web.AppKey("update_log", UpdateLog)
ROOMS = web.AppKey("rooms", RoomManager)
PRESENCE = web.AppKey("presence", Presence)
