"""Screens over the chat: the whole article at a cited span, and the list of keys."""

from __future__ import annotations

from collections.abc import Callable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Static

from qabot.errors import QabotError
from qabot.present.display import safe
from qabot.tui import views
from qabot.tui.views import Span

KEYS = [
    ("Enter", "ask the question in the box"),
    ("↑ / ↓ (in the box)", "recall earlier questions"),
    ("Tab / Shift+Tab", "move between the box, answers and sources"),
    ("↑ / ↓  or  k / j", "move between answers and sources"),
    ("Enter (on an answer)", "open the article at the cited span"),
    ("Esc", "back to the question box / close a screen"),
    ("Ctrl+L", "clear the chat (follow-ups start afresh)"),
    ("Ctrl+S", "export the chat to a Markdown file"),
    ("Ctrl+R", "index new or changed seeds (the chat keeps working)"),
    ("Ctrl+P", "command palette"),
    ("F1", "this help"),
    ("Ctrl+Q", "quit"),
]
COMMANDS = [
    ("/clear", "clear the chat"),
    ("/export [FILE]", "export the chat to Markdown"),
    ("/rebuild", "index new or changed seeds"),
    ("/help", "this help"),
    ("/quit", "quit"),
]


class ArticleScreen(Screen[None]):
    """The whole source file, one block per line, scrolled to the cited span."""

    BINDINGS = [Binding("escape,q", "app.pop_screen", "Back to the chat")]

    def __init__(self, read: Callable[[str], str], span: Span) -> None:
        """``read``: the text of a corpus file by name (``QABot.document_text``), the text
        the span's offsets index into."""
        super().__init__()
        self.read = read
        self.span = span

    def compose(self) -> ComposeResult:
        s = self.span
        yield Static(
            Content.assemble(
                (safe(s.title), "bold"),
                (f"   {views.location(s, '  ')}", "dim"),
            ),
            id="article-title",
        )
        with VerticalScroll(id="article"):
            yield from self._blocks()
        yield Footer()

    def _blocks(self) -> list[Static]:
        s = self.span
        try:
            text = self.read(s.doc)
        except QabotError as exc:  # gone, unreadable, or no longer valid UTF-8
            return [
                Static(
                    Content.styled(f"cannot read {safe(s.doc)}: {safe(str(exc))}", "bold $error")
                )
            ]
        blocks: list[Static] = []
        if text[s.start : s.end] != s.text:
            blocks.append(
                Static(
                    Content.styled(
                        "This file changed since it was indexed: the cited span is no longer at "
                        "these offsets. Rebuild the index (Ctrl+R in the chat).",
                        "bold $warning",
                    )
                )
            )
        end = s.end if s.is_answer else s.start  # closest evidence is shown, not highlighted
        offset = 0
        for line in text.split("\n"):
            line_end = offset + len(line)
            if line.strip():
                hit = offset < max(end, s.start + 1) and s.start < line_end
                block = Static(  # a CRLF file's "\r" is the line's end, not another line
                    views.marked(line.removesuffix("\r"), offset, s.start, end, s.short),
                    classes="block hit" if hit else "block",
                )
                blocks.append(block)
            offset = line_end + 1
        return blocks

    def on_mount(self) -> None:
        hits = self.query(".hit")
        if hits:
            first = hits.first()
            self.call_after_refresh(
                self.query_one("#article", VerticalScroll).scroll_to_center, first, animate=False
            )


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,f1,q", "app.pop_screen", "Close")]

    def compose(self) -> ComposeResult:
        with Vertical(id="help"):
            yield Static(Content.styled("qabot — keys", "bold"))
            for key, what in KEYS:
                yield Static(Content.assemble((f"{key:<24}", "bold"), what))
            yield Static(Content.styled("\nTyped in the question box", "bold"))
            for cmd, what in COMMANDS:
                yield Static(Content.assemble((f"{cmd:<24}", "bold"), what))
            yield Static(
                Content.styled(
                    "\nEvery answer is an exact quote of the corpus with its source; "
                    "qabot says so when the corpus does not answer.",
                    "dim",
                )
            )
