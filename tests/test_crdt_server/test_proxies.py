"""X-Forwarded-For is believed from trusted proxies only, and only as far as they vouch."""

from __future__ import annotations

import pytest
from support.app_client import ClientFactory

from crdt_server.proxies import TrustedProxies

PROXIES = TrustedProxies.parse("127.0.0.1, 10.0.0.0/8, ::1")


@pytest.mark.parametrize(
    ("peer", "header", "client"),
    [
        ("127.0.0.1", "198.51.100.4", "198.51.100.4"),  # one proxy
        ("127.0.0.1", "203.0.113.9, 198.51.100.4", "198.51.100.4"),  # a forged entry, left
        ("127.0.0.1", "198.51.100.4, 10.1.2.3", "198.51.100.4"),  # two trusted hops
        ("198.51.100.4", "127.0.0.1", "198.51.100.4"),  # an untrusted peer names nobody
        ("127.0.0.1", None, "127.0.0.1"),
        ("127.0.0.1", "not-an-address, 10.1.2.3", "10.1.2.3"),  # garbled: the last good hop
        ("::1", "[2001:db8::7]", "2001:db8::7"),
        ("127.0.0.1", "10.0.0.1, 10.0.0.2", "10.0.0.1"),  # all trusted: the leftmost
    ],
)
def test_the_client_is_the_first_untrusted_address_from_the_right(
    peer: str, header: str | None, client: str
) -> None:
    assert PROXIES.client_of(peer, header) == client


def test_a_bad_entry_is_named() -> None:
    with pytest.raises(ValueError, match="'10.0.0.0/33'"):
        TrustedProxies.parse("127.0.0.1,10.0.0.0/33")


async def test_loopback_only_metrics_see_the_client_behind_a_trusted_proxy(
    make_client: ClientFactory,
) -> None:
    """Behind nginx on the same host every peer is loopback; the client it names is not."""
    api = await make_client(trusted_proxies="127.0.0.1")
    assert (await api.get("/metrics", headers={"X-Forwarded-For": "198.51.100.4"})).status == 403
    assert (await api.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"})).status == 200
    assert (await api.get("/metrics")).status == 200
