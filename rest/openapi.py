"""The OpenAPI 3.1 document, generated from the operation table and its pydantic models,
and an offline docs page (Swagger UI assets shipped with the ``swagger-ui-py`` package)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import swagger_ui
from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from crdt_server.core.sessions import SESSION_ID

from .errors import problem_for
from .health import service_version
from .models import PARTICIPANT_ID, ErrorEnvelope
from .routing import API_PREFIX, Operation

SPEC_PATH = API_PREFIX + "/openapi.json"
_PARAM = re.compile(r"{(\w+)}")
_STATUS_TEXT = {200: "OK", 201: "Created", 204: "No Content"}
SWAGGER_ASSETS = Path(swagger_ui.__file__).parent / "static"
#: What each path parameter's handler accepts (anything else is 400 or 404).
_PATH_SCHEMAS: dict[str, dict[str, Any]] = {
    "sessionId": {"type": "string", "pattern": SESSION_ID.pattern},
    "participantId": {"type": "string", "pattern": PARTICIPANT_ID},
    "userId": {"type": "string", "pattern": PARTICIPANT_ID},
    "n": {"type": "string", "pattern": r"^[0-9]{1,9}$"},
    "questionId": {"type": "string", "pattern": r"^q_[0-9a-f]{12}$"},
}
_PATH_DOCS: dict[str, tuple[str, str]] = {
    "sessionId": ("The session's id (from POST /sessions).", "3f9a1c2b"),
    "participantId": ("A participant's id.", "8c1d6f0e-2b8a-4d4e-9f3a-5b7c9d1e2f30"),
    "userId": ("A participant's id.", "8c1d6f0e-2b8a-4d4e-9f3a-5b7c9d1e2f30"),
    "n": ("A history snapshot's number, from 1.", "1"),
    "questionId": ("A question of the bank (from POST /questions).", "q_0123456789ab"),
}

DOCS_PAGE = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>CodeInterview API</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css"></head>
<body><p style="font:15px system-ui,sans-serif;margin:1rem 2rem">REST below (the
<a href="{SPEC_PATH}">OpenAPI document</a>). The WebSocket at
<code>/ws/sessions/{{sessionId}}</code>, both its protocols, every message and close code:
<a href="{API_PREFIX}/asyncapi.json">the AsyncAPI document</a>.</p><div id="docs"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script>window.ui = SwaggerUIBundle({{url: "{SPEC_PATH}", dom_id: "#docs"}});</script>
</body></html>
"""


def _schemas(operations: list[Operation]) -> tuple[dict[Any, Any], dict[str, Any]]:
    inputs: list[tuple[type[BaseModel], JsonSchemaMode]] = []
    for op in operations:
        if op.body is not None:
            inputs.append((op.body, "validation"))
        if op.response is not None:
            inputs.append((op.response, "serialization"))
    inputs.append((ErrorEnvelope, "serialization"))
    refs, defs = models_json_schema(
        list(dict.fromkeys(inputs)), by_alias=True, ref_template="#/components/schemas/{model}"
    )
    schemas = defs.get("$defs", {})
    for schema in schemas.values():  # "Createdat" and the like say less than the name itself
        for prop in schema.get("properties", {}).values():
            prop.pop("title", None)
    return dict(refs), schemas


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _error_lines(op: Operation) -> dict[int, list[str]]:
    """Per status, the machine codes the operation may answer with and what they mean."""
    lines: dict[int, list[str]] = {}
    for kind in op.errors:
        problem = problem_for(kind)
        if problem is None:
            raise ValueError(f"{op.method} {op.path}: {kind.__name__} is not in PROBLEMS")
        line = f"{problem.code}: {problem.summary}"
        if line not in lines.setdefault(problem.status, []):
            lines[problem.status].append(line)
    return lines


def _pointer(path: str, method: str) -> str:
    """A JSON pointer to an operation of this document (links name operations by it: the
    aliases share handlers, so a handler's name is no unique id)."""
    return "#/paths/" + (API_PREFIX + path).replace("~", "~0").replace("/", "~1") + "/" + method


def _links(op: Operation, operations: list[Operation]) -> dict[str, Any]:
    known = {(o.method, o.path) for o in operations}
    links: dict[str, Any] = {}
    for link in op.links:
        if (link.method, link.path) not in known:
            raise ValueError(f"{op.method} {op.path}: link {link.name} names no operation")
        ref = _pointer(link.path, link.method.lower())
        links[link.name] = {"operationRef": ref, "parameters": link.parameters}
    return links


def _operation(op: Operation, refs: dict[Any, Any], operation_id: str) -> dict[str, Any]:
    error_ref = refs[(ErrorEnvelope, "serialization")]
    responses: dict[str, Any] = {}
    ok: dict[str, Any] = {"description": _STATUS_TEXT.get(op.status, "OK")}
    if op.response is not None:
        ok["content"] = _json(refs[(op.response, "serialization")])
    responses[str(op.status)] = ok
    for status, lines in sorted(_error_lines(op).items()):
        responses[str(status)] = {"description": "; ".join(lines), "content": _json(error_ref)}
    spec: dict[str, Any] = {
        "summary": op.summary,
        "tags": [op.tag],
        "operationId": operation_id,
        "responses": responses,
    }
    params = _PARAM.findall(op.path)
    if params:
        spec["parameters"] = [
            {
                "name": p,
                "in": "path",
                "required": True,
                "description": _PATH_DOCS[p][0],
                "example": _PATH_DOCS[p][1],
                "schema": _PATH_SCHEMAS[p],
            }
            for p in params
        ]
    if op.body is not None:
        # a POST whose fields are all optional may be sent without a body
        needed = any(field.is_required() for field in op.body.model_fields.values())
        content = _json(refs[(op.body, "validation")])
        if op.example is not None:  # what "Try it out" fills in: it must work as it is
            content["application/json"]["example"] = op.example
        spec["requestBody"] = {"required": op.method != "POST" or needed, "content": content}
    if op.description:
        spec["description"] = op.description
    return spec


def build_openapi(operations: list[Operation]) -> dict[str, Any]:
    refs, defs = _schemas(operations)
    paths: dict[str, dict[str, Any]] = {}
    taken: set[str] = set()
    for op in operations:
        operation_id = op.handler.__name__ + "_" + op.method.lower()
        if operation_id in taken:  # an alias of an operation: the same handler
            operation_id += "_" + op.tag
        taken.add(operation_id)
        spec = _operation(op, refs, operation_id)
        if op.links:
            spec["responses"][str(op.status)]["links"] = _links(op, operations)
        paths.setdefault(API_PREFIX + op.path, {})[op.method.lower()] = spec
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "CodeInterview collaboration API",
            "version": service_version(),
            "description": "Sessions, participants and live code. Live editing runs over "
            "WebSocket at /ws/sessions/{sessionId} (y-websocket protocol or JSON events), "
            f"described by the AsyncAPI document at {API_PREFIX}/asyncapi.json.",
        },
        "paths": paths,
        "components": {"schemas": defs},
    }


def add_docs_routes(app: web.Application, operations: list[Operation]) -> None:
    document = build_openapi(operations)

    async def openapi(_: web.Request) -> web.StreamResponse:
        return web.json_response(document)

    async def docs(_: web.Request) -> web.StreamResponse:
        return web.Response(text=DOCS_PAGE, content_type="text/html")

    app.router.add_get(SPEC_PATH, openapi)
    app.router.add_get("/docs", docs)
    app.router.add_static("/docs/assets", SWAGGER_ASSETS)
