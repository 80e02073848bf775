"""Every piece of application state as a typed ``AppKey``; the live side's keys live in
:mod:`crdt_server.keys` and are re-exported here."""

from __future__ import annotations

from aiohttp import web

from crdt_server.keys import LIVE, SETTINGS, STORAGE

STARTED_AT = web.AppKey("started_at", float)

__all__ = ["LIVE", "SETTINGS", "STARTED_AT", "STORAGE"]
