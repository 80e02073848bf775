"""Every piece of application state as a typed ``AppKey``; the live side's keys live in
:mod:`crdt_server.keys` and are re-exported here."""

from __future__ import annotations

from aiohttp import web

from crdt_server.keys import LIVE, SETTINGS, STORAGE
from crdt_server.one_at_a_time import OneAtATime

STARTED_AT = web.AppKey("started_at", float)
#: One report PDF is built at a time: the worker processes also check room loads.
PDF_TURN = web.AppKey("pdf_turn", OneAtATime)

__all__ = ["LIVE", "PDF_TURN", "SETTINGS", "STARTED_AT", "STORAGE"]
