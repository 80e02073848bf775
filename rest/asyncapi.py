"""The AsyncAPI 3.0 document of the WebSocket: both protocols, every message, every close
code, served beside the OpenAPI one (``/api/v1/asyncapi.json``) and linked from ``/docs``.

It speaks for the server: ``receive`` operations are what clients send it, ``send`` ones
what it sends them. The tests validate the document against the AsyncAPI schema and every
JSON event a live socket gets against the payload schemas here.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from crdt_server.close_codes import MEANINGS, CloseCode
from crdt_server.document import LANGUAGES

from .health import service_version
from .routing import API_PREFIX

ASYNCAPI_PATH = API_PREFIX + "/asyncapi.json"

_TIMESTAMP = {"type": "integer", "description": "The server's clock when it sent this (Unix ms)."}
_USER_ID = {
    "type": ["string", "null"],
    "description": "The participant it came from; null when unknown (the current state).",
}
_POSITION = {
    "type": "object",
    "required": ["lineNumber", "column"],
    "properties": {
        "lineNumber": {"type": "integer", "minimum": 1, "description": "Line, from 1."},
        "column": {"type": "integer", "minimum": 1, "description": "Column, from 1."},
    },
    "description": "A cursor, as Monaco numbers it.",
}
_PARTICIPANT = {
    "type": "object",
    "required": ["id", "name", "role", "color"],
    "properties": {
        "id": {"type": "string", "description": "The participant's id."},
        "name": {"type": "string", "description": "Display name."},
        "role": {"type": "string", "enum": ["interviewer", "candidate", "observer"]},
        "color": {"type": "string", "description": "Cursor colour (CSS)."},
    },
}


def _event(kind: str, data: dict[str, Any], required: list[str]) -> dict[str, Any]:
    """The schema of one JSON event: ``{"type": kind, "data": {...}}``."""
    return {
        "type": "object",
        "required": ["type", "data"],
        "properties": {
            "type": {"const": kind},
            "data": {"type": "object", "required": required, "properties": data},
        },
    }


def _message(name: str, title: str, summary: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "title": title,
        "summary": summary,
        "contentType": "application/json",
        "payload": payload,
    }


def _binary(name: str, title: str, summary: str) -> dict[str, Any]:
    return {
        "name": name,
        "title": title,
        "summary": summary,
        "contentType": "application/octet-stream",
        "payload": {"type": "string", "format": "binary"},
    }


_CODE = {"type": "string", "description": "The whole code text."}
_LANGUAGE = {"type": "string", "enum": list(LANGUAGES), "description": "The editor language."}

MESSAGES: dict[str, dict[str, Any]] = {
    "syncStep1": _binary(
        "syncStep1",
        "y-websocket sync step 1",
        "varUint 0, varUint 0, then the sender's state vector: 'send me what I lack'.",
    ),
    "syncStep2": _binary(
        "syncStep2",
        "y-websocket sync step 2",
        "varUint 0, varUint 1, then an update with what the other side lacks.",
    ),
    "syncUpdate": _binary(
        "syncUpdate",
        "y-websocket update",
        "varUint 0, varUint 2, then a Yjs update (one edit or more).",
    ),
    "awareness": _binary(
        "awareness",
        "y-websocket awareness",
        "varUint 1, then an awareness update: the cursors, selections and names of clients "
        "(a state's top-level `focused`, true or false, is followed for the playback timeline).",
    ),
    "codeChange": _message(
        "code_change",
        "Code changed",
        "The whole code. From a client: applied as the minimal edit from the text it most "
        "likely saw. From the server: the current code, at most every 50 ms.",
        _event(
            "code_change",
            {"code": _CODE, "userId": _USER_ID, "timestamp": _TIMESTAMP},
            ["code"],
        ),
    ),
    "languageChange": _message(
        "language_change",
        "Language changed",
        "The editor language of the session.",
        _event(
            "language_change",
            {"language": _LANGUAGE, "userId": _USER_ID, "timestamp": _TIMESTAMP},
            ["language"],
        ),
    ),
    "cursorPosition": _message(
        "cursor_position",
        "Cursor moved",
        "A participant's cursor; Yjs editors see a JSON client's cursor and the other way.",
        _event(
            "cursor_position",
            {"position": _POSITION, "userId": _USER_ID, "timestamp": _TIMESTAMP},
            ["position"],
        ),
    ),
    "userJoin": _message(
        "user_join",
        "Participant online",
        "A participant's first socket opened.",
        _event("user_join", {"user": _PARTICIPANT, "timestamp": _TIMESTAMP}, ["user"]),
    ),
    "userLeave": _message(
        "user_leave",
        "Participant offline",
        "A participant's last socket closed.",
        _event(
            "user_leave",
            {"userId": {"type": "string"}, "timestamp": _TIMESTAMP},
            ["userId"],
        ),
    ),
    "notesChange": _message(
        "notes_change",
        "Notes changed",
        "The interviewers' private notes, as just written; sent to interviewers' sockets only.",
        _event(
            "notes_change",
            {
                "notes": {"type": "string", "description": "The notes, in Markdown."},
                "version": {"type": "integer", "description": "How many writes so far."},
                "updatedAt": {"type": ["integer", "null"], "description": "Unix ms."},
                "updatedBy": {"type": ["string", "null"], "description": "Who wrote them."},
            },
            ["notes", "version"],
        ),
    ),
    "error": _message(
        "error",
        "Event refused",
        "A client event was not applied; a run of them closes the socket (1008).",
        _event(
            "error",
            {
                "message": {"type": "string", "description": "What was wrong, for a person."},
                "code": {
                    "type": "string",
                    "enum": ["INVALID_JSON", "INVALID_EVENT", "UNKNOWN_TYPE", "FORBIDDEN"],
                },
            },
            ["message", "code"],
        ),
    ),
}

_DESCRIPTION = """One path, two protocols. A connection whose first frame is binary speaks
y-websocket (what the stock `y-websocket` provider and pycrdt clients speak); one whose first
frame is text speaks JSON events. `?protocol=json` makes the server send a JSON client the
current state at once, `?protocol=yjs` makes it open the y-websocket handshake. A Yjs client
never receives a text frame, a JSON client never a binary one.

With `--auth token` a socket needs a token: `?token=`, or (JSON) a `token` field in its first
event. Close codes (the stock provider stops reconnecting on exactly 4400-4499):

"""


def _close_codes() -> str:
    rows = [f"| {int(code)} | {MEANINGS[code]} |" for code in sorted(CloseCode)]
    return "| code | when |\n| --- | --- |\n" + "\n".join(rows)


def _refs(*names: str) -> list[dict[str, str]]:
    return [{"$ref": f"#/channels/session/messages/{name}"} for name in names]


def build_asyncapi() -> dict[str, Any]:
    yjs = ("syncStep1", "syncStep2", "syncUpdate", "awareness")
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "CodeInterview collaboration socket",
            "version": service_version(),
            "description": "Live editing of a session's document. The REST API is described "
            "by the OpenAPI document at " + API_PREFIX + "/openapi.json.",
        },
        "defaultContentType": "application/json",
        "channels": {
            "session": {
                "address": "/ws/sessions/{sessionId}",
                "title": "A session's live document",
                "description": _DESCRIPTION + _close_codes(),
                "parameters": {
                    "sessionId": {"description": "The session's id: 8 lowercase hex characters."}
                },
                "messages": MESSAGES,
                "bindings": {
                    "ws": {
                        "method": "GET",
                        "query": {
                            "type": "object",
                            "properties": {
                                "protocol": {
                                    "type": "string",
                                    "enum": ["json", "yjs"],
                                    "description": "Say the protocol before the first frame.",
                                },
                                "token": {
                                    "type": "string",
                                    "description": "A session token (with --auth token).",
                                },
                                "userId": {
                                    "type": "string",
                                    "description": "The participant this socket is (marked "
                                    "online); with a token, it must be the token's.",
                                },
                            },
                        },
                        "bindingVersion": "0.1.0",
                    }
                },
                "x-close-codes": {str(int(code)): MEANINGS[code] for code in sorted(CloseCode)},
            }
        },
        "operations": {
            "receiveYjs": {
                "action": "receive",
                "channel": {"$ref": "#/channels/session"},
                "summary": "A Yjs client's sync messages, updates and awareness.",
                "messages": _refs(*yjs),
            },
            "sendYjs": {
                "action": "send",
                "channel": {"$ref": "#/channels/session"},
                "summary": "Sync answers, everyone else's updates and awareness.",
                "messages": _refs(*yjs),
            },
            "receiveJsonEvents": {
                "action": "receive",
                "channel": {"$ref": "#/channels/session"},
                "summary": "A JSON client's edits, language changes and cursor.",
                "messages": _refs("codeChange", "languageChange", "cursorPosition"),
            },
            "sendJsonEvents": {
                "action": "send",
                "channel": {"$ref": "#/channels/session"},
                "summary": "The state, everyone else's changes, presence and refusals.",
                "messages": _refs(
                    "codeChange",
                    "languageChange",
                    "cursorPosition",
                    "userJoin",
                    "userLeave",
                    "error",
                ),  # fmt: skip
            },
        },
    }


def add_asyncapi_route(app: web.Application) -> None:
    document = build_asyncapi()

    async def asyncapi(_: web.Request) -> web.StreamResponse:
        return web.json_response(document)

    app.router.add_get(ASYNCAPI_PATH, asyncapi)
