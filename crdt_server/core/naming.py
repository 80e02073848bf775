"""Readable names and distinct colours for participants who bring none."""

from __future__ import annotations

import re
import secrets

_ADJECTIVES = (
    "Swift", "Clever", "Brave", "Calm", "Bright", "Bold", "Keen", "Witty", "Quiet", "Lucky",
    "Sunny", "Eager", "Gentle", "Happy", "Jolly", "Nimble", "Proud", "Quick", "Wise", "Zesty",
)  # fmt: skip
_ANIMALS = (
    "Otter", "Falcon", "Panda", "Fox", "Heron", "Lynx", "Koala", "Badger", "Dolphin", "Owl",
    "Tiger", "Raven", "Beaver", "Gecko", "Marten", "Puffin", "Walrus", "Yak", "Zebra", "Bison",
)  # fmt: skip
_HUE = re.compile(r"^hsla?\(\s*(-?\d+(?:\.\d+)?)")


def pick_name(taken: set[str]) -> str:
    """A readable name nobody in the session has yet."""
    for _ in range(50):
        name = f"{secrets.choice(_ADJECTIVES)} {secrets.choice(_ANIMALS)}"
        if name not in taken:
            return name
    return f"Guest {secrets.token_hex(2)}"


def pick_color(taken: list[str]) -> str:
    """An HSL colour whose hue is as far as possible from the session's other hues."""
    hues = sorted(float(m.group(1)) % 360 for c in taken if (m := _HUE.match(c)))
    if not hues:
        return f"hsl({secrets.randbelow(360)}, 70%, 50%)"
    best, gap = 0.0, -1.0
    for i, hue in enumerate(hues):
        following = hues[(i + 1) % len(hues)] + (360 if i + 1 == len(hues) else 0)
        if following - hue > gap:
            best, gap = (hue + (following - hue) / 2) % 360, following - hue
    return f"hsl({round(best)}, 70%, 50%)"
