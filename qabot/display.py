"""Corpus text on a terminal: shown literally, never as escape sequences.

Shared by the CLI and the chat, which both print text that came from files nobody vetted.
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def safe(text: str) -> str:
    """``text`` with control characters (the start of any escape sequence) made visible and inert.

    Newlines and tabs are kept; everything else in the C0/C1 ranges becomes ``\\xNN``.
    """
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
