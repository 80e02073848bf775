"""Who the client is behind a reverse proxy: ``X-Forwarded-For``, from trusted proxies only.

Behind nginx every connection comes from nginx's address, so rate limits, quotas and the
loop shares would treat all clients as one. A peer in ``--trusted-proxies`` may name the
client: the header is read from the right (each proxy appends the address it saw) and the
first address that is not itself a trusted proxy is the client, as nginx's
``real_ip_recursive`` does. Anything a client wrote further left is ignored, and a header
from a peer that is not trusted is ignored altogether.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

#: Entries read from the right of one header: a chain of proxies is short, a header is not.
_MAX_HOPS = 16

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrustedProxies:
    """The proxy networks whose ``X-Forwarded-For`` is believed."""

    def __init__(self, networks: Iterable[Network] = ()) -> None:
        self.networks = tuple(networks)

    @classmethod
    def parse(cls, spec: str) -> TrustedProxies:
        """From ``10.0.0.0/8,127.0.0.1``; ValueError naming a bad entry."""
        networks = []
        for entry in (part.strip() for part in spec.split(",")):
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                raise ValueError(f"not an address or network: {entry!r}") from None
        return cls(networks)

    def trusts(self, address: str | None) -> bool:
        parsed = _address(address)
        return parsed is not None and any(parsed in network for network in self.networks)

    def client_of(self, peer: str | None, forwarded_for: str | None) -> str | None:
        """The client's address: ``peer``, or what trusted proxies say it is."""
        if not forwarded_for or not self.trusts(peer):
            return peer
        hops = forwarded_for.rsplit(",", _MAX_HOPS)[-_MAX_HOPS:]
        client = peer
        for hop in reversed(hops):
            parsed = _address(hop.strip())
            if parsed is None:
                return client  # garbled: believe no further than the last good hop
            client = str(parsed)
            if not any(parsed in network for network in self.networks):
                return client
        return client


def _address(text: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not text:
        return None
    try:
        return ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None
