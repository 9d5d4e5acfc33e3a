"""Corpus text on a terminal: shown literally, never as escape sequences.

Shared by the CLI and the chat, which both print text that came from files nobody vetted.
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# Bidirectional controls reorder what follows them on screen ("Trojan Source"): a quote must
# read in the order its characters have in the file.
_BIDI = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def safe(text: str) -> str:
    """``text`` with control characters (the start of any escape sequence) made visible and inert.

    Newlines and tabs are kept, and a carriage return ends a line as a newline would (files
    written on Windows show as they read); every other C0/C1 character becomes ``\\xNN`` and
    a bidirectional control becomes ``\\uNNNN``.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    return _BIDI.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
