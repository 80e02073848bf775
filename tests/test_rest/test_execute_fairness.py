"""One client flooding the sandbox over REST never locks the others out of it."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import pytest
from support.app_client import ClientFactory

pytestmark = pytest.mark.sandbox

SLEEP = {"code": "import time\ntime.sleep(1)\nprint('slept')", "language": "python"}


async def test_a_flooding_client_gets_429_while_another_client_runs_promptly(
    make_client: ClientFactory,
) -> None:
    api = await make_client(execution_max_concurrent=2, execution_max_queue=32)
    url = str(api.make_url("/api/v1/execute"))
    other = aiohttp.TCPConnector(local_addr=("127.0.0.2", 0))  # a second client address
    async with aiohttp.ClientSession() as flooder, aiohttp.ClientSession(connector=other) as bob:

        async def flood() -> int:
            async with flooder.post(url, json=SLEEP) as response:
                return response.status

        floods = [asyncio.create_task(flood()) for _ in range(20)]
        await asyncio.sleep(0.2)  # pacing: let the flood take its share first
        started = time.monotonic()
        async with bob.post(url, json={"code": "print('hi')", "language": "python"}) as response:
            body: dict[str, Any] = await response.json()
        waited = time.monotonic() - started
        statuses = await asyncio.gather(*floods)
    assert response.status == 200 and body["data"]["stdout"] == "hi\n"
    assert waited < 3.0, waited  # the flood alone takes 20 s of slots
    assert statuses.count(429) >= 15 and statuses.count(200) >= 1
