"""The docs a new user reads: every field described, every body example working as it is,
HEAD wherever GET answers, and a home page that says where to go."""

from __future__ import annotations

import re
from typing import Any

from support.app_client import Client
from support.waiting import wait_until

from rest.app import OPERATIONS
from rest.openapi import build_openapi

DOCUMENT = build_openapi(OPERATIONS)


def test_every_field_is_described_and_none_has_a_generated_title() -> None:
    for name, schema in DOCUMENT["components"]["schemas"].items():
        for field, spec in schema.get("properties", {}).items():
            assert spec.get("description"), f"{name}.{field}"
            assert "title" not in spec, f"{name}.{field}: {spec['title']}"


def test_every_path_parameter_has_a_description_and_an_example() -> None:
    for path, methods in DOCUMENT["paths"].items():
        for method, spec in methods.items():
            for parameter in spec.get("parameters", []):
                where = f"{method} {path} {parameter['name']}"
                assert parameter.get("description") and parameter.get("example"), where
                assert re.match(parameter["schema"]["pattern"], parameter["example"]), where


def _examples() -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for path, methods in DOCUMENT["paths"].items():
        for method, spec in methods.items():
            if "requestBody" in spec:
                example = spec["requestBody"]["content"]["application/json"].get("example")
                assert example is not None, f"{method} {path} has a body and no example"
                found.append((method.upper(), path, example))
    return found


async def test_every_body_example_works_as_it_is_against_a_live_server(api: Client) -> None:
    """What Swagger's "Try it out" sends, with only the path's ids filled in."""
    created = await api.post("/api/v1/sessions", json={})
    session = (await created.json())["data"]
    ids = {"sessionId": session["id"], "participantId": session["participants"][0]["id"]}
    ids["userId"] = ids["participantId"]
    examples = _examples()
    assert len(examples) == len([op for op in OPERATIONS if op.body is not None])
    for method, path, example in examples:
        url = re.sub(r"{(\w+)}", lambda m: ids[m.group(1)], path)
        if "questionId" in example:  # the question the bank's own example made
            example = {**example, "questionId": ids["questionId"]}
        response = await api.request(method, url, json=example)
        assert response.status < 400, f"{method} {path}: {await response.text()}"
        if path == "/api/v1/questions":
            ids["questionId"] = (await response.json())["data"]["id"]


async def test_head_answers_wherever_get_does_with_the_same_status_and_no_body(
    api: Client,
) -> None:
    created = await api.post("/api/v1/sessions", json={"code": "x"})
    session = (await created.json())["data"]
    ids = {
        "sessionId": session["id"],
        "participantId": session["participants"][0]["id"],
        "userId": session["participants"][0]["id"],
        "n": "1",
    }
    await api.put(f"/api/v1/sessions/{session['id']}/code", json={"code": "y"})
    bank_example = next(e for _, path, e in _examples() if path == "/api/v1/questions")
    question = await api.post("/api/v1/questions", json=bank_example)
    ids["questionId"] = (await question.json())["data"]["id"]
    attached = {"questionId": ids["questionId"]}
    assert (await api.put(f"/api/v1/sessions/{session['id']}/question", json=attached)).ok

    async def snapshot_taken() -> bool:  # when the idle room unloads
        listed = await api.get(f"/api/v1/sessions/{session['id']}/history")
        return bool((await listed.json())["data"])

    await wait_until(snapshot_taken, what="a history snapshot")
    paths = [
        "/", "/docs", "/livez", "/readyz", "/metrics", "/demo/", "/api/v1/openapi.json",
        "/api/v1/asyncapi.json",
        *(path for path, methods in DOCUMENT["paths"].items() if "get" in methods),
    ]  # fmt: skip
    for path in paths:
        url = re.sub(r"{(\w+)}", lambda m: ids[m.group(1)], path)
        got = await api.get(url)
        await got.read()
        head = await api.head(url)
        assert head.status == got.status, f"HEAD {url}: {head.status}, GET {got.status}"
        assert got.status == 200, f"GET {url}: {got.status}"
        assert await head.read() == b""


async def test_the_home_page_says_what_this_is_and_links_the_docs_and_the_demo(
    api: Client,
) -> None:
    page = await api.get("/")
    assert page.status == 200 and page.content_type == "text/html"
    html = await page.text()
    for link in ('href="/docs"', 'href="/demo/"', 'href="/api/v1/asyncapi.json"'):
        assert link in html
    as_json = await api.get("/", headers={"Accept": "application/json"})
    links = (await as_json.json())["links"]
    assert links["docs"] == "/docs" and links["demo"] == "/demo/"
    for target in links.values():
        assert (await api.get(target)).status == 200, target
