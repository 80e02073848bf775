"""Every piece of application state as a typed ``AppKey``; the live side's keys live in
:mod:`crdt_server.keys` and are re-exported here."""

from __future__ import annotations

import asyncio

from aiohttp import web

from crdt_server.keys import ROOMS, SETTINGS, STORAGE, UPDATE_LOG

from .execution import Executor
from .service import Services

SERVICES = web.AppKey("services", Services)
EXECUTOR = web.AppKey("executor", Executor)
EXECUTOR_PROBE = web.AppKey("executor_probe", asyncio.Task[None])
STARTED_AT = web.AppKey("started_at", float)

__all__ = [
    "EXECUTOR",
    "EXECUTOR_PROBE",
    "ROOMS",
    "SERVICES",
    "SETTINGS",
    "STARTED_AT",
    "STORAGE",
    "UPDATE_LOG",
]
