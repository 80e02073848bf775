"""A regular (non-editable) install works like the checkout: the wheel carries what runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]

# Runs TypeScript through the installed package, far from the checkout.
PROBE = """
import asyncio, json
import execution
from execution import ExecutionLimits, Executor

async def main():
    executor = Executor(ExecutionLimits(max_concurrent=1))
    await executor.start()
    try:
        result = await executor.run("const n: number = 6 * 7; console.log(n)", "typescript")
    finally:
        await executor.stop()
    print(json.dumps({"package": execution.__file__, "stdout": result.stdout,
                      "exit": result.exit_code, "stderr": result.stderr}))

asyncio.run(main())
"""


@pytest.mark.sandbox
def test_typescript_runs_from_a_wheel_install_outside_the_checkout(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), "."],
        cwd=PROJECT,
        check=True,
        timeout=300,
    )
    wheel = next(tmp_path.glob("*.whl"))
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), wheel],
        check=True,
        timeout=300,
    )
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=tmp_path,
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["package"].startswith(str(site)), result  # the wheel's copy, not the checkout
    assert (result["stdout"], result["exit"]) == ("42\n", 0), result
