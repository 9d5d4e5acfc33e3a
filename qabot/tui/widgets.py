"""The chat's widgets: the question box, one view per turn, selectable spans, the evidence panel."""

from __future__ import annotations

import json
import os
from pathlib import Path

from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.widgets import Input, Static

from qabot.present.display import safe
from qabot.records import AskResult
from qabot.tui import views
from qabot.tui.views import Span

HISTORY_KEPT = 500  # questions recalled from earlier sessions


class QuestionInput(Input):
    """The question box; ↑ / ↓ walk through the questions asked before, like a shell."""

    BINDINGS = [
        Binding("up", "older", "Earlier question", show=False),
        Binding("down", "newer", "Later question", show=False),
        Binding("tab", "app.focus_latest", "Latest answer", show=False),
    ]

    def __init__(self, history_file: Path | None = None, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.history_file = history_file
        self.asked: list[str] = _read_history(history_file)
        self._position = len(self.asked)  # == len(asked) when showing the draft being typed
        self._draft = ""

    def remember(self, question: str, *, keep: bool = True) -> None:
        """Make ``question`` the newest one for ↑.

        ``keep=False`` holds it for this session only: a refused question can be recalled and
        fixed, but it is not written to the history file.
        """
        if not self.asked or self.asked[-1] != question:
            self.asked.append(question)
            if keep:
                _append_history(self.history_file, question)
        self._position = len(self.asked)
        self._draft = ""

    def action_older(self) -> None:
        if self._position == 0:
            return
        if self._position == len(self.asked):
            self._draft = self.value
        self._position -= 1
        self._show(self.asked[self._position])

    def action_newer(self) -> None:
        if self._position >= len(self.asked):
            return
        self._position += 1
        draft = self._position == len(self.asked)
        self._show(self._draft if draft else self.asked[self._position])

    def _show(self, text: str) -> None:
        self.value = text
        self.cursor_position = len(text)


def _read_history(path: Path | None) -> list[str]:
    """Questions of earlier sessions, oldest first (JSON strings, one per line)."""
    if path is None:
        return []
    try:
        # errors="replace": a damaged byte costs its line, not the chat's start
        text = path.read_text(encoding="utf-8", errors="replace")
        lines = text.split("\n")[-HISTORY_KEPT - 1 :]  # not splitlines: U+2028 is in a question
    except OSError:
        return []
    out = []
    for line in lines:
        try:
            value = json.loads(line)
        except ValueError:
            continue  # a damaged line costs that line only
        if isinstance(value, str) and value.strip():
            out.append(value)
    return out


def _append_history(path: Path | None, question: str) -> None:
    if path is None:
        return
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # what the user asked is theirs alone: created 0600, and a looser file made so
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as f:
            os.fchmod(fd, 0o600)
            f.write(json.dumps(question, ensure_ascii=False) + "\n")
    except OSError:
        pass  # history is a convenience: a read-only home must not stop the chat


class SpanItem(Static, can_focus=True):
    """An answer or a source line: selecting it shows its paragraph; Enter opens the article."""

    BINDINGS = [
        Binding("enter", "open", "Open article"),
        Binding("down,j", "move(1)", "Next", show=False),
        Binding("up,k", "move(-1)", "Previous", show=False),
    ]

    class Selected(Message):
        def __init__(self, item: SpanItem) -> None:
            super().__init__()
            self.item = item

    class Opened(Message):
        def __init__(self, item: SpanItem) -> None:
            super().__init__()
            self.item = item

    def __init__(self, content: Content, span: Span, result: AskResult, **kwargs: object) -> None:
        super().__init__(content, **kwargs)  # type: ignore[arg-type]
        self.span = span
        self.result = result

    def on_focus(self) -> None:
        self.post_message(self.Selected(self))

    def on_click(self) -> None:
        self.focus()

    def action_open(self) -> None:
        self.post_message(self.Opened(self))

    def action_move(self, step: int) -> None:
        """Next or previous answer or source; at either end it stays (no jump to the far end)."""
        items = list(self.screen.query(SpanItem))
        k = items.index(self) + step
        if 0 <= k < len(items):
            items[k].focus()
            items[k].scroll_visible(animate=False)


class TurnView(Vertical):
    """One question and, once it arrives, its answer."""

    def __init__(self, question: str) -> None:
        super().__init__(classes="turn")
        self.question = question
        self.result: AskResult | None = None

    def compose(self):  # type: ignore[no-untyped-def]
        yield Static(Content.assemble(("You: ", "bold"), safe(self.question)), classes="question")
        yield Static(Content.styled("answering…", "italic dim"), classes="pending")

    def show_error(self, message: str) -> None:
        self.query(".pending").remove()
        self.mount(
            Static(Content.styled(f"error: {safe(message)}", "bold $error"), classes="error")
        )

    def show(self, result: AskResult) -> None:
        """Replace "answering…" with the answer: quotes, short answers, numbered sources."""
        self.result = result
        self.query(".pending").remove()
        widgets: list[Static] = []
        if result.resolved_question != result.question:
            widgets.append(
                Static(Content.styled(f"read as: {safe(result.resolved_question)}", "dim italic"))
            )
        groups = views.sources(result)
        if result.abstained:
            why = f" ({safe(result.note)})" if result.note else ""
            widgets.append(
                Static(
                    Content.styled(f"The corpus does not answer this question.{why}", "bold"),
                    classes="abstained",
                )
            )
            if groups:
                widgets.append(Static(Content.styled("Closest evidence, not an answer:", "dim")))
            for group in groups:
                for s in group:
                    widgets.append(SpanItem(views.source_line(s), s.span, result, classes="source"))
        else:
            if result.conflict:
                widgets.append(
                    Static(
                        Content.styled(
                            "⚠ Sources disagree: each version is shown with its own source.",
                            "bold $warning",
                        ),
                        classes="conflict",
                    )
                )
            for number, (answer, group) in enumerate(zip(result.answers, groups, strict=True), 1):
                widgets.append(
                    SpanItem(views.quote(answer, number), group[0].span, result, classes="answer")
                )
                for s in group:
                    widgets.append(SpanItem(views.source_line(s), s.span, result, classes="source"))
        self.mount_all(widgets)


class ChatLog(VerticalScroll, can_focus=False):
    """The conversation; focus goes to its answers and sources, not to the log itself."""


class EvidencePanel(VerticalScroll):
    """The selected answer's paragraph with the cited span highlighted, and how it was found."""

    def compose(self):  # type: ignore[no-untyped-def]
        yield Static(id="evidence-title")
        yield Static(id="evidence-where")
        yield Static(id="evidence-scores")
        yield Static(id="evidence-text")

    def on_mount(self) -> None:
        self.clear()

    def clear(self) -> None:
        self.query_one("#evidence-title", Static).update(Content.styled("Evidence", "bold"))
        self.query_one("#evidence-where", Static).update(
            Content.styled("Select an answer or a source (Tab, ↑/↓) to see its paragraph.", "dim")
        )
        self.query_one("#evidence-scores", Static).update("")
        self.query_one("#evidence-text", Static).update("")

    def show(self, span: Span, result: AskResult) -> None:
        evidence = views.find_evidence(result, span)
        kind = "answer" if span.is_answer else "closest evidence (not an answer)"
        self.query_one("#evidence-title", Static).update(
            Content.assemble((safe(span.title), "bold"), (f"  — {kind}", "dim"))
        )
        self.query_one("#evidence-where", Static).update(
            Content.styled(views.location(span, "  "), "dim")
        )
        self.query_one("#evidence-scores", Static).update(views.scores_line(evidence))
        end = span.end if span.is_answer else span.start  # evidence is shown, not highlighted
        if evidence is not None:
            text = views.marked(evidence.text, evidence.start, span.start, end, span.short)
        else:
            text = views.marked(span.text, span.start, span.start, end, span.short)
        self.query_one("#evidence-text", Static).update(text)
        self.scroll_home(animate=False)
