"""Request bodies' Content-Encoding, decoded by us rather than by aiohttp's parser.

aiohttp decodes bodies inside its HTTP parser, where an encoding it lacks a library
for (``br``, ``zstd``) becomes a logged traceback and a plain-text 400 that bypasses our
envelope, and an encoding it does not know is silently read as identity. The app turns
that off (``auto_decompress=False``); here every body is read as sent, then decoded
with a bound on what it inflates to, or refused with 415 naming what we accept.
"""

from __future__ import annotations

import zlib

from crdt_server.core.errors import InvalidInput

#: What a client may send, for the 415 answer's Accept-Encoding.
ACCEPTED = "gzip, deflate"
_GZIP = 16 + zlib.MAX_WBITS


class UnsupportedEncoding(Exception):
    """A Content-Encoding we do not decode (RFC 7694: answered 415 with Accept-Encoding)."""


class BodyTooLarge(Exception):
    """The body inflates past the request size limit."""


def decode_body(raw: bytes, content_encoding: str, limit: int) -> bytes:
    """``raw`` decoded per ``content_encoding`` (a header value, maybe empty); at most
    ``limit`` bytes of output are ever produced, whatever the input claims."""
    codings = [c.strip().lower() for c in content_encoding.split(",") if c.strip()]
    codings = [c for c in codings if c != "identity"]
    if not codings:
        return raw
    if len(codings) > 1:
        raise UnsupportedEncoding(f"Content-Encoding {content_encoding!r}: one coding at most")
    coding = codings[0]
    if coding in ("gzip", "x-gzip"):
        wbits = _GZIP
    elif coding == "deflate":
        # RFC 9110's deflate is zlib-wrapped; some clients send it raw, as browsers accept
        wbits = zlib.MAX_WBITS if raw[:1] and raw[0] & 0x0F == 8 else -zlib.MAX_WBITS
    else:
        raise UnsupportedEncoding(f"Content-Encoding {coding!r} is not supported")
    inflater = zlib.decompressobj(wbits)
    try:
        body = inflater.decompress(raw, limit + 1)
    except zlib.error as exc:
        raise InvalidInput(f"the body is not valid {coding}: {exc}") from None
    if len(body) > limit:
        raise BodyTooLarge()
    if not inflater.eof or inflater.unused_data:
        raise InvalidInput(f"the body is not one complete {coding} stream")
    return body
