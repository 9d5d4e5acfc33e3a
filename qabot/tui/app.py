"""The chat app: a thin shell over ``qabot.api.QABot``; all slow work runs in worker threads.

The window paints at once; the index and model load in a worker while the user types, and
questions asked before they are ready wait their turn. Answering and rebuilding run in workers
too, so the UI never freezes. A rebuild swaps in a new ``QABot`` only when it is complete; until
then the old one keeps answering from the old index, which stays valid on disk.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, ProgressBar, Static
from textual.worker import Worker

from qabot.api import QABot, clean_question
from qabot.errors import QabotError
from qabot.present.display import safe
from qabot.present.markdown import export_chat
from qabot.present.report import describe
from qabot.tui import views
from qabot.tui.screens import ArticleScreen, HelpScreen
from qabot.tui.seeds import SEEDS_CHECK_SECONDS, SeedsKeeper
from qabot.tui.widgets import ChatLog, EvidencePanel, QuestionInput, SpanItem, TurnView
from qabot.tui.workers import Cancelled, closing, unexpected

if TYPE_CHECKING:
    from qabot.api import IndexReport
    from qabot.records import AskResult

HISTORY_TURNS = 3  # earlier questions a follow-up may lean on, as in the line chat


class QabotApp(SeedsKeeper, App[None]):
    TITLE = "qabot"
    CSS_PATH = "app.tcss"
    BINDINGS = [
        Binding("ctrl+l", "clear", "Clear"),
        Binding("ctrl+s", "export", "Export"),
        Binding("ctrl+r", "rebuild", "Rebuild index"),
        Binding("f1", "help", "Help"),
        Binding("escape", "focus_question", "Question box", show=False),
    ]

    def __init__(
        self,
        seeds_dir: Path | str = "seeds",
        index_dir: Path | str = "index",
        *,
        bot: QABot | None = None,
        export_dir: Path | str = ".",
        history_file: Path | None = None,
        watch: bool = False,
    ) -> None:
        super().__init__()
        self.seeds_dir = Path(seeds_dir)
        self.index_dir = Path(index_dir)
        self.export_dir = Path(export_dir)
        self.history_file = history_file
        self.bot: QABot | None = bot
        self.turns: list[TurnView] = []
        self.history: list[str] = []  # questions of the current conversation, for follow-ups
        self._waiting: list[tuple[TurnView, str, list[str]]] = []
        self._ask_lock = threading.Lock()  # one answer at a time: the bot's caches are shared
        self._stale_shown = False
        self._load_error: str | None = None  # why there is no bot, until Ctrl+R retries
        self.watching = watch  # index changed seeds as they settle, without Ctrl+R
        self._stop_watching = threading.Event()
        self._index_again = False  # seeds changed while an update ran: one more after it
        self._automatic = False  # the update under way was started by a change, not a key
        self._auto_failed = False  # the 10 s check does not retry a failed update

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(Content.styled("loading the index and the model…", "italic"), id="status")
        with Horizontal(id="main"):
            yield ChatLog(id="log")
            yield EvidencePanel(id="evidence")
        yield ProgressBar(id="progress", show_eta=False)
        yield QuestionInput(
            self.history_file, placeholder="Ask a question about the corpus…  (F1: help)", id="ask"
        )
        yield Footer()

    def on_mount(self) -> None:
        # Workers report while an article or the help may be on top: always address the chat.
        self.chat_screen = self.screen
        self.chat_screen.query_one("#progress").display = False
        self.chat_screen.query_one(QuestionInput).focus()
        if self.bot is None:
            self.load()
        else:
            self._bot_ready(self.bot, None)
        self.set_interval(SEEDS_CHECK_SECONDS, self.check_seeds)
        if self.watching:
            self.watch_seeds()

    def on_unmount(self) -> None:
        self._stop_watching.set()  # the watch thread ends within a step of it

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "index" and event.worker.is_finished and self._index_again:
            self._index_again = False  # seeds changed while that update ran
            self.seeds_written(seen=True)

    # ------------------------------------------------------------------ loading / rebuilding

    def _progress(self, stage: str, done: int, total: int) -> None:
        """Progress callback of the index stages; runs in the worker thread.

        It is also where a rebuild notices that the app is closing: quitting must not wait
        for the rest of an index build (the half-written generation is swept next time).
        """
        if closing():
            raise Cancelled
        self._report(self._show_progress, stage, done, total)

    def _report(
        self, callback: Callable[..., object], *args: object, turn: TurnView | None = None
    ) -> None:
        """Run ``callback`` on the UI thread from a worker, unless the app is closing.

        An exception raised while showing a result is said on ``turn`` (or in the status line)
        instead of travelling back into the worker, where it would close the app.
        """
        if closing():
            return
        try:
            self.call_from_thread(self._guarded, callback, args, turn)
        except RuntimeError:
            if self.is_running:
                raise  # not the "app is not running" of a chat that closed meanwhile

    def _guarded(
        self, callback: Callable[..., object], args: tuple[object, ...], turn: TurnView | None
    ) -> None:
        try:
            callback(*args)
        except Exception as exc:  # the chat must say it and keep running
            if turn is not None:
                turn.show_error(unexpected(exc))
            else:
                self._set_status(Content.styled(f"error: {unexpected(exc)}", "bold $error"))

    def _show_progress(self, stage: str, done: int, total: int) -> None:
        bar = self.chat_screen.query_one("#progress", ProgressBar)
        bar.display = True
        bar.update(total=max(total, 1), progress=done)
        self._set_status(Content.styled(f"indexing: {stage} {done}/{total}", "italic"))

    @work(thread=True, exclusive=True, group="index")
    def load(self) -> None:
        try:
            bot = QABot(self.seeds_dir, self.index_dir, progress=self._progress)
            self._report(self._set_status, Content.styled("loading the embedding model…", "italic"))
            if closing():  # loading the model cannot be stopped half way: do not start it
                return
            bot.warm_up()  # so that the first question does not wait for the encoder to load
        except Cancelled:
            return
        except QabotError as exc:
            self._report(self._failed, str(exc))
            return
        except Exception as exc:  # the chat must say it and keep running
            self._report(self._failed, unexpected(exc))
            return
        self._report(self._bot_ready, bot, bot.report)

    @work(thread=True, exclusive=True, group="index")
    def rebuild(self, from_scratch: bool = False) -> None:
        try:
            # a new bot, swapped in when ready: the current one answers until then
            bot = QABot(self.seeds_dir, self.index_dir, lazy=True)
            update = bot.rebuild if from_scratch else bot.refresh
            report = update(progress=self._progress)
            bot.load()
        except Cancelled:
            return
        except QabotError as exc:
            self._report(self._failed, str(exc))
            return
        except Exception as exc:  # the chat must say it and keep running
            self._report(self._failed, unexpected(exc))
            return
        self._report(self._bot_ready, bot, report)

    def _indexing(self) -> bool:
        return any(w.group == "index" and not w.is_finished for w in self.workers)

    def _bot_ready(self, bot: QABot, report: IndexReport | None) -> None:
        self.bot = bot
        self._load_error = None
        self.chat_screen.query_one("#progress").display = False
        self._stale_shown = self._auto_failed = False
        self._set_status(self._index_summary(bot))
        if report is not None and (report.touched or not self._automatic):
            self._say(
                describe(report, brief=True),
                title="index up to date" if report.touched else "index checked",
            )
        self._automatic = False
        waiting, self._waiting = self._waiting, []
        for turn, question, history in waiting:
            self.answer(turn, question, history)

    def _index_summary(self, bot: QABot) -> Content:
        s = bot.summary()
        skipped = f" · {s.skipped} skipped" if s.skipped else ""
        return Content.assemble(
            (f"{s.documents} documents", "bold"),
            f" · {s.paragraphs} paragraphs · {s.sentences} sentences{skipped}"
            f" · built {views.local_time(s.built)} · {safe(str(s.index_dir))}",
            *([(f" · stale: {safe(s.stale)}", "bold $warning")] if s.stale else []),
            " · watching the seeds" if self.watching else "",
        )

    def _failed(self, message: str) -> None:
        """An index load or rebuild failed: say why; a working index keeps answering."""
        self.chat_screen.query_one("#progress").display = False
        self._auto_failed, self._automatic = self.watching, False
        if self.bot is None:
            self._load_error = message
            self._set_status(
                Content.assemble(
                    (f"error: {safe(message)}", "bold $error"), ("  ·  Ctrl+R to retry", "bold")
                )
            )
            for turn, _, _ in self._waiting:
                turn.show_error(f"{message} (Ctrl+R to retry)")
            self._waiting = []
        else:
            self._set_status(
                Content.assemble(
                    self._index_summary(self.bot),
                    (f"  ·  update failed: {safe(message)}", "bold $error"),
                )
            )
        self._say(message, title="index", severity="error")

    def _say(self, message: str, **kwargs: object) -> None:
        """A toast; ``markup=False`` because messages quote file names and corpus text."""
        self.notify(safe(message), markup=False, **kwargs)  # type: ignore[arg-type]

    def _set_status(self, content: Content) -> None:
        self.chat_screen.query_one("#status", Static).update(content)

    # ------------------------------------------------------------------ asking

    @on(Input.Submitted, "#ask")
    def submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        box = self.chat_screen.query_one(QuestionInput)
        if not text:
            return
        box.value = ""
        if text.startswith("/") and self._command(text):
            box.remember(text)
            return
        turn = TurnView(text)
        self.turns.append(turn)
        log = self.chat_screen.query_one("#log", VerticalScroll)
        log.mount(turn)
        log.scroll_end(animate=False)
        try:
            clean_question(text)
        except QabotError as exc:  # not in the conversation: it must not steer follow-ups
            box.remember(text, keep=False)  # but ↑ brings it back to be fixed
            turn.show_error(str(exc))
            return
        box.remember(text)
        history = self.history[-HISTORY_TURNS:]
        self.history.append(text)
        if self.bot is not None:
            self.answer(turn, text, history)
        elif self._load_error is not None:
            turn.show_error(f"{self._load_error} (Ctrl+R to retry)")
        else:
            self._waiting.append((turn, text, history))

    def _command(self, text: str) -> bool:
        """Slash commands typed in the question box; False when it is not one of them."""
        name, _, arg = text.partition(" ")
        actions = {
            "/clear": self.action_clear,
            "/rebuild": self.action_rebuild,
            "/help": self.action_help,
            "/quit": self.exit,
        }
        if name == "/export":
            self.export(Path(arg.strip()).expanduser() if arg.strip() else None)
            return True
        if name in actions:
            actions[name]()
            return True
        return False

    @work(thread=True, group="ask")
    def answer(self, turn: TurnView, question: str, history: list[str]) -> None:
        assert self.bot is not None
        try:
            with self._ask_lock:
                result = self.bot.ask(question, history)
        except QabotError as exc:
            self._report(turn.show_error, str(exc), turn=turn)
            return
        except Exception as exc:  # one failed answer must not close the chat
            self._report(turn.show_error, unexpected(exc), turn=turn)
            return
        self._report(self._answered, turn, result, turn=turn)

    def _answered(self, turn: TurnView, result: AskResult) -> None:
        turn.show(result)
        log = self.chat_screen.query_one("#log", VerticalScroll)
        log.call_after_refresh(log.scroll_end, animate=False)
        first = turn.query(SpanItem)
        if first:
            self.chat_screen.query_one(EvidencePanel).show(first.first().span, result)

    # ------------------------------------------------------------------ selection

    @on(SpanItem.Selected)
    def selected(self, event: SpanItem.Selected) -> None:
        self.chat_screen.query_one(EvidencePanel).show(event.item.span, event.item.result)

    @on(SpanItem.Opened)
    def opened(self, event: SpanItem.Opened) -> None:
        if self.bot is not None:  # always so: the answer on screen came from a bot
            self.push_screen(ArticleScreen(self.bot.document_text, event.item.span))

    # ------------------------------------------------------------------ actions

    def action_focus_latest(self) -> None:
        """Tab from the question box goes to the newest answer, not the oldest."""
        for turn in reversed(self.turns):
            items = turn.query(SpanItem)
            if items:
                items.first().focus()
                return
        self.screen.focus_next()

    def action_focus_question(self) -> None:
        self.chat_screen.query_one(QuestionInput).focus()

    def action_clear(self) -> None:
        self.chat_screen.query_one("#log", VerticalScroll).remove_children()
        self.turns.clear()
        self.history.clear()
        self.chat_screen.query_one(EvidencePanel).clear()
        self.chat_screen.query_one(QuestionInput).focus()

    def action_export(self) -> None:
        self.export(None)

    def export(self, path: Path | None) -> Path | None:
        results = [t.result for t in self.turns if t.result is not None]
        if not results:
            self._say("nothing to export yet", severity="warning")
            return None
        where = path if path is not None else self.export_dir  # what a failure names
        try:
            target = export_chat(results, self.export_dir, path)
        except FileExistsError:
            self._say(f"{where} exists already: give another name", severity="error")
            return None
        except OSError as exc:
            self._say(f"cannot write {where}: {exc.strerror or exc}", severity="error")
            return None
        self._say(f"chat exported to {target}", title="export")
        return target

    def action_rebuild(self, from_scratch: bool = False) -> None:
        if self._indexing():
            self._say("the index is already being updated")
            return
        self._load_error = None  # questions asked now wait for this attempt
        self._set_status(Content.styled("indexing new or changed seeds…", "italic"))
        self.rebuild(from_scratch)

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Clear chat", "Start a new conversation", self.action_clear)
        yield SystemCommand("Export chat", "Write the chat as Markdown", self.action_export)
        yield SystemCommand("Rebuild index", "Index new or changed seeds", self.action_rebuild)
        yield SystemCommand(
            "Rebuild index from scratch",
            "Re-read every seed",
            lambda: self.action_rebuild(from_scratch=True),
        )
        yield SystemCommand("Keys", "The list of keys and commands", self.action_help)
