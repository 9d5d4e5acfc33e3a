"""How the chat keeps its index in step with the seeds folder: a look every few seconds,
the watch (on by default), and an update queued behind the one under way.

A mixin of ``QabotApp``: it uses the app's bot, workers, status line and notices.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import work
from textual.content import Content

from qabot.api import QABot, seed_changes
from qabot.errors import QabotError
from qabot.tui.workers import unexpected

if TYPE_CHECKING:
    from qabot.tui.app import QabotApp

SEEDS_CHECK_SECONDS = 10.0  # how often the seeds folder is compared with the index (a stat each)


class SeedsKeeper:
    def check_seeds(self: QabotApp) -> None:
        """Compare the seeds with the index: when they changed, index them (watching) or say
        so (rebuilding is then the user's call)."""
        if self.bot is not None and not self._stale_shown and not self._indexing():
            self._stat_seeds(self.bot)

    @work(thread=True, exclusive=True, group="seeds")
    def _stat_seeds(self: QabotApp, bot: QABot) -> None:
        try:
            stale = bot.is_stale()
        except Exception:  # a folder being moved or edited: look again next time
            return
        if stale:
            self._report(self._seeds_changed, bot)

    def _seeds_changed(self: QabotApp, bot: QABot) -> None:
        if bot is not self.bot or self._stale_shown or self._indexing():
            return  # a rebuild under way will say what it found
        if self.watching:  # a change the watch did not report (a network folder, say)
            return self.seeds_written()
        self._stale_shown = True
        self._set_status(
            Content.assemble(
                self._index_summary(bot),
                ("  ·  seeds changed since then: Ctrl+R to update", "bold $warning"),
            )
        )
        self._say("The seeds changed since the index was built: Ctrl+R updates it.")

    @work(thread=True, group="watch")
    def watch_seeds(self: QabotApp) -> None:
        """Index the seeds as they change; the current index answers meanwhile."""
        try:
            for _ in seed_changes(self.seeds_dir, self._stop_watching):
                self._report(self.seeds_written, True)
        except Exception as exc:  # the chat goes on without the watch
            message = str(exc) if isinstance(exc, QabotError) else unexpected(exc)
            self._report(self._watch_ended, message)

    def _watch_ended(self: QabotApp, message: str) -> None:
        self.watching = False
        self._say(f"{message}; Ctrl+R indexes changes", title="watch", severity="warning")
        if self.bot is not None:
            self._set_status(self._index_summary(self.bot))

    def seeds_written(self: QabotApp, seen: bool = False) -> None:
        """Index the changed seeds now, or once the update under way is done. ``seen``: a
        change the watch reported; a failed update is retried only on such a change, not
        by the look every few seconds (a lasting failure would repeat every 10 s)."""
        if seen:
            self._auto_failed = False
        elif self._auto_failed:
            return
        if self._indexing():
            self._index_again = True
            return
        self.action_rebuild()
        self._automatic = True
