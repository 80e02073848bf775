"""The bounds one room and one connection live within, read once from the settings.

Every input a client controls has one of these, so no client can make the server spend
memory or time on the others' behalf; each refusal names the bound it hit.
"""

from __future__ import annotations

from dataclasses import dataclass

from .settings import Settings

_MIB = 1024 * 1024


def frame_limit(settings: Settings) -> int:
    """The largest WebSocket frame worth reading.

    Past ``--max-document-bytes`` no update can be accepted, and a whole-text JSON write
    is at most twelve bytes a character (a surrogate pair as two ``\\uXXXX``), so a bigger
    frame is refused (1009) from its header, before its payload is buffered, unmasked and
    copied (eight 16 MiB frames cost 100 ms of loop).
    """
    worth = max(settings.max_document_bytes, 12 * settings.max_code_chars) + 64 * 1024
    return min(settings.max_message_bytes, worth)


@dataclass(frozen=True, slots=True)
class Limits:
    max_document_bytes: int = 8 * _MIB  # a document's state, roughly (updates accepted)
    #: Client ids a document may hold: reading a state back (a merge's shadow document)
    #: costs superlinear time in them, 28 ms at 10k and 1.1 s at 40k (bench/shadow_cost.py)
    max_document_clients: int = 10_000
    max_awareness_states: int = 8  # awareness client ids one connection may introduce
    max_awareness_state_bytes: int = 16 * 1024  # one awareness state (JSON text)
    max_awareness_entries: int = 1024  # per room, removed ones (tombstones) included
    max_outbox_bytes: int = 32 * _MIB  # frames queued for one slow socket before it is dropped
    max_sockets: int = 64  # open sockets per session
    #: How long integrating content may hold the event loop: this plus a rate per MiB
    #: (honest documents cost 17 ms per MiB; crdt_server/workers.py times the rest first)
    integrate_budget_ms: float = 25.0
    integrate_ms_per_mib: float = 40.0
    #: An update inserting more characters than this into the code is flagged as a paste
    paste_chars: int = 200

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            max_document_bytes=settings.max_document_bytes,
            max_document_clients=settings.max_document_clients,
            max_awareness_states=settings.max_awareness_states,
            max_awareness_state_bytes=settings.max_awareness_state_bytes,
            max_outbox_bytes=settings.max_outbox_bytes,
            max_sockets=settings.max_sockets_per_session,
            integrate_ms_per_mib=settings.integrate_ms_per_mib,
            paste_chars=settings.paste_chars,
        )
