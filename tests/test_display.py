"""Corpus text made safe for a terminal: nothing in it may act on the screen."""

from __future__ import annotations

from qabot.present.display import safe


def test_escape_and_control_characters_become_visible_text() -> None:
    assert safe("a\x1b]8;;http://x\x07b\x9bc") == "a\\x1b]8;;http://x\\x07b\\x9bc"


def test_windows_line_ends_read_as_line_ends() -> None:
    assert safe("one\r\ntwo\rthree") == "one\ntwo\nthree"


def test_bidirectional_overrides_cannot_reorder_a_quote() -> None:
    assert safe("price \u202e001$\u202c ok") == "price \\u202e001$\\u202c ok"


def test_ordinary_text_is_unchanged() -> None:
    text = "Gallant — «Netanyahu» said: 'ok'\tnext\nline, 日本語 and עברית"
    assert safe(text) == text
