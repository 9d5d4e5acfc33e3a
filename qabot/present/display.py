"""Corpus text on a terminal: shown literally, never as escape sequences.

Shared by the CLI and the chat, which both print text that came from files nobody vetted.
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# Bidirectional controls reorder what follows them on screen ("Trojan Source"): a quote must
# read in the order its characters have in the file.
_BIDI_CHARS = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_BIDI = re.compile(f"[{_BIDI_CHARS}]")
# json.dumps escapes C0 controls but leaves DEL, C1 (\x9b starts an escape sequence too) and
# the bidirectional controls raw
_JSON_RAW = re.compile(f"[\x7f-\x9f{_BIDI_CHARS}]")


def safe(text: str) -> str:
    """``text`` with control characters (the start of any escape sequence) made visible and inert.

    Newlines and tabs are kept, and a carriage return ends a line as a newline would (files
    written on Windows show as they read); every other C0/C1 character becomes ``\\xNN`` and
    a bidirectional control becomes ``\\uNNNN``.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    return _BIDI.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def json_inert(text: str) -> str:
    """JSON text (``json.dumps(..., ensure_ascii=False)``) with what a terminal would act on
    and JSON leaves raw written as ``\\uNNNN`` escapes: the same strings once parsed."""
    return _JSON_RAW.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
