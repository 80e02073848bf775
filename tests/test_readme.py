"""The README documents what the code has: every setting and every REST route."""

from __future__ import annotations

import re
from pathlib import Path

from crdt_server.settings import Settings, env_for, flag_for
from rest.app import OPERATIONS

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_every_setting_is_in_the_readme_settings_table() -> None:
    for name in Settings.model_fields:
        assert f"| `{flag_for(name)}` | `{env_for(name)}` |" in README, name


def test_every_rest_operation_is_in_the_readme_rest_table() -> None:
    rows = re.findall(r"^\| ([A-Z/]+) `([^`]+)`", README, flags=re.MULTILINE)
    documented = {(m, re.sub(r"\{[^}]+\}", "{}", p)) for ms, p in rows for m in ms.split("/")}
    for op in OPERATIONS:
        path = re.sub(r"\{[^}]+\}", "{}", op.path)
        assert (op.method, path) in documented, f"{op.method} {op.path}"


def test_the_readme_has_exactly_the_two_set_up_commands_ci_runs() -> None:
    ci = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text()
    assert "bash scripts/test.sh" in README and "scripts/test.sh" in ci
    assert ".venv/bin/python -m crdt_server" in README
