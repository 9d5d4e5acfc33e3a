"""Command line: a thin shell over ``qabot.api``. User errors are one line, never a traceback."""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from qabot.errors import QabotError
from qabot.present.display import json_inert, safe
from qabot.present.plain import render
from qabot.present.progress import progress_bar
from qabot.present.report import changed_files, describe

if TYPE_CHECKING:
    from qabot.api import QABot

seeds_option = click.option(
    "--seeds",
    "seeds_dir",
    type=click.Path(path_type=Path),
    default=Path("seeds"),
    show_default=True,
    help="Folder of .txt/.md documents.",
)


def data_option(what: str) -> Callable[[Callable], Callable]:
    """``--data``: where the public benchmarks are read from."""
    return click.option(
        "--data",
        "data_dir",
        type=click.Path(path_type=Path, file_okay=False),
        help=f"{what} [default: $QABOT_BENCHMARKS, else ../shared/benchmarks].",
    )


index_option = click.option(
    "--index",
    "index_dir",
    type=click.Path(path_type=Path),
    default=Path("index"),
    show_default=True,
    help="Folder of the built index.",
)


def backend_options(command: Callable) -> Callable:
    """``--backend``, ``--milvus-uri``: $QABOT_BACKEND, $QABOT_MILVUS_URI (QABot's) for this run."""
    for flag, env, kind, what in (
        ("--milvus-uri", "QABOT_MILVUS_URI", str, "http://host:19530, or lite:DIR for Milvus Lite"),
        ("--backend", "QABOT_BACKEND", click.Choice(["local", "milvus"]), "local or milvus"),
    ):
        command = click.option(
            flag, type=kind, expose_value=False, help=f"{what} [default: ${env}].",
            callback=lambda _c, _p, v, env=env: v and os.environ.__setitem__(env, v),
        )(command)  # fmt: skip
    return command


def _fail_cleanly(fn: Callable[[], None]) -> None:
    try:
        fn()
    except QabotError as exc:
        click.echo(f"error: {safe(' '.join(str(exc).split()))}", err=True)  # one line, inert
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)


@click.group(invoke_without_command=True)
@backend_options
@click.pass_context
def main(ctx: click.Context) -> None:
    """qabot: ask questions of a folder of documents; answers are exact, cited quotes."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(chat)


@main.command()
@click.argument("question")
@click.option("--history", multiple=True, help="An earlier question of the chat (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@backend_options
@seeds_option
@index_option
def ask(
    question: str, history: tuple[str, ...], as_json: bool, seeds_dir: Path, index_dir: Path
) -> None:
    """Answer QUESTION from the corpus (indexing it first if needed)."""

    def run() -> None:
        from qabot.api import QABot, clean_question

        clean_question(question)  # refuse bad input before any indexing work
        for k, text in enumerate(history, 1):
            clean_question(text, f"history entry {k}")
        with progress_bar() as progress:
            bot = QABot(seeds_dir, index_dir, progress=progress)
        if bot.report is not None and (bot.report.touched or bot.report.rebuilt_reason):
            summary = describe(bot.report).splitlines()
            click.echo("\n".join(summary[: 2 if bot.report.rebuilt_reason else 1]), err=True)
        result = bot.ask(question, history)
        if as_json:
            text = json.dumps(result.to_dict(), ensure_ascii=False, indent=1)
            click.echo(json_inert(text))
        else:
            if result.stale:
                click.echo(f"stale: {safe(result.stale)}", err=True)
            click.echo(render(result))

    _fail_cleanly(run)


@main.command()
@click.option("--rebuild", is_flag=True, help="Ignore the old index and rebuild everything.")
@click.option(
    "--watch",
    is_flag=True,
    help="Then keep watching the seeds folder and index each change as it settles (Ctrl+C stops).",
)
@backend_options
@seeds_option
@index_option
def index(rebuild: bool, watch: bool, seeds_dir: Path, index_dir: Path) -> None:
    """Index the seeds folder: only new or changed files are processed."""

    def run() -> None:
        from qabot.api import QABot, seed_changes

        bot = QABot(seeds_dir, index_dir, lazy=True, publish=True)  # indexes, loads nothing
        with progress_bar() as progress:
            report = (bot.rebuild if rebuild else bot.refresh)(progress=progress)
        click.echo(describe(report))
        if not watch:
            return
        click.echo(f"watching {safe(str(seeds_dir))} for changes (Ctrl+C stops)", err=True)
        for _ in seed_changes(seeds_dir, threading.Event()):  # a watch that fails: error line
            try:
                with progress_bar() as progress:  # a bar of its own, gone before the summary
                    report = bot.refresh(progress=progress)
            except QabotError as exc:  # this update failed: the index before it stands
                click.echo(f"error: {safe(' '.join(str(exc).split()))}", err=True)
                continue
            click.echo(describe(report))
            if report.touched:
                click.echo(changed_files(report))
        click.echo("stopped watching", err=True)

    _fail_cleanly(run)


@main.command()
@click.argument("doc")
@click.option("--json", "as_json", is_flag=True, help='Print {"doc", "text"}: the exact string.')
@backend_options
@seeds_option
@index_option
def show(doc: str, as_json: bool, seeds_dir: Path, index_dir: Path) -> None:
    """Print a seed file's text as qabot quotes it: citation offsets index into it (for a
    PDF, a web page or a Word file, the text extracted from it). On a terminal control
    characters are shown inert; ``--json`` keeps every character, offsets included."""

    def run() -> None:
        from qabot.api import QABot

        with progress_bar() as progress:
            bot = QABot(seeds_dir, index_dir, progress=progress)
        if doc not in bot.index.manifest.files:
            raise QabotError(f"not an indexed file of {seeds_dir}: {doc}")
        text = bot.document_text(doc)
        if as_json:
            click.echo(json_inert(json.dumps({"doc": doc, "text": text}, ensure_ascii=False)))
        else:
            click.echo(safe(text))

    _fail_cleanly(run)


@main.command(name="eval")
@click.argument("question_set", required=False, type=click.Path(path_type=Path))
@click.option(
    "--benchmark",
    type=click.Choice(["squad", "squad2", "scifact"]),
    help="A public benchmark, read from --data, instead of QUESTION_SET.",
)
@data_option("Folder of the public benchmarks' files")
@click.option(
    "--predictions",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write qabot's answer to each question here (JSON Lines).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option(
    "--compare",
    "compare_to",
    type=click.Path(path_type=Path, dir_okay=False),
    help="An earlier `qabot eval --json` output to show the difference to.",
)
@click.option("--limit", type=click.IntRange(min=1), help="Only the first N questions.")
@click.option(
    "--cache",
    type=click.Path(path_type=Path, file_okay=False),
    help="Where benchmarks keep their corpus and index [default: ~/.cache/qabot/bench].",
)
@click.option(
    "--reader-alone",
    is_flag=True,
    help="Score the reader alone on a --benchmark: each answerable question read with its "
    "gold paragraph (no retrieval, no abstention), as SQuAD v1.1 readers are scored.",
)
@backend_options
@seeds_option
@index_option
def eval_command(
    question_set: Path | None,
    benchmark: str | None,
    data_dir: Path | None,
    predictions: Path | None,
    as_json: bool,
    compare_to: Path | None,
    limit: int | None,
    cache: Path | None,
    reader_alone: bool,
    seeds_dir: Path,
    index_dir: Path,
) -> None:
    """Score qabot on QUESTION_SET (JSON Lines) or on a public --benchmark."""

    def run() -> None:
        from dataclasses import asdict

        from qabot.measure import questions as question_sets
        from qabot.measure import runner, tables
        from qabot.measure.reports import EvalReport

        if (question_set is None) == (benchmark is None):
            raise QabotError("give a question set file or --benchmark NAME (one of them)")
        if reader_alone:
            if benchmark is None or predictions or compare_to:
                raise QabotError(
                    "--reader-alone scores a --benchmark, without --predictions or --compare"
                )
            from qabot.measure import public_sets
            from qabot.measure.reading import format_reading

            with progress_bar() as progress:
                read = public_sets.read_alone(benchmark, cache, limit, progress, data_dir)
            click.echo(json.dumps(read.to_dict(), indent=1) if as_json else format_reading(read))
            return
        if data_dir is not None and benchmark is None:
            raise QabotError("--data is where --benchmark reads its files; give --benchmark NAME")
        if benchmark == "scifact" and predictions:
            raise QabotError("--predictions is for question answering; scifact is retrieval only")
        questions = question_sets.load_questions(question_set) if question_set else []
        earlier = tables.load_run(compare_to) if compare_to else None
        try:
            out = predictions.open("w", encoding="utf-8") if predictions else None
        except OSError as exc:
            raise QabotError(f"cannot write {predictions}: {exc.strerror or exc}") from None

        def write(p: runner.Prediction) -> None:
            if out:
                out.write(json.dumps(p.to_dict(), ensure_ascii=False) + "\n")
                out.flush()

        try:
            with progress_bar() as progress:
                if benchmark:
                    from qabot.measure import public_sets

                    rep = public_sets.run(benchmark, cache, limit, progress, write, data_dir)
                else:
                    from qabot.api import QABot

                    bot = QABot(seeds_dir, index_dir, progress=progress)
                    chosen = questions[:limit] if limit else questions
                    rep = runner.evaluate(bot, chosen, str(question_set), progress, write)
        finally:
            if out:
                out.close()
        deltas = tables.compare(earlier, rep.to_dict()) if earlier is not None else None
        if as_json:
            data = rep.to_dict()
            if deltas is not None:
                data["compare"] = [asdict(d) for d in deltas]
            click.echo(json_inert(json.dumps(data, ensure_ascii=False, indent=1)))
            return
        # notes name questions by their ids, which come from files nobody vetted
        if isinstance(rep, EvalReport):
            click.echo(safe(tables.format_report(rep)))
        else:
            click.echo(safe(tables.format_retrieval(rep)))
        if deltas is not None:
            click.echo(f"\ncompared with {compare_to}:")
            click.echo(tables.format_comparison(deltas))

    _fail_cleanly(run)


def _say_updates(bot: QABot) -> None:
    """The line chat's watch: each change to the seeds indexed and said in a line on stderr,
    while questions go on being answered (from the old index until the new one is whole)."""
    try:
        for outcome in bot.watch():
            if isinstance(outcome, QabotError):
                reason = safe(" ".join(str(outcome).split()))
                click.echo(f"(index not updated: {reason})", err=True)
            elif outcome.touched:
                click.echo(f"({describe(outcome, brief=True)}: {changed_files(outcome)})", err=True)
    except Exception as exc:  # the chat goes on answering without the watch
        click.echo(f"(watch stopped: {safe(' '.join(str(exc).split()))})", err=True)


@main.command()
@backend_options
@seeds_option
@index_option
@click.option(
    "--plain",
    is_flag=True,
    help="A line-by-line chat instead of the full-screen one (the default when not on a terminal).",
)
@click.option(
    "--watch/--no-watch",
    default=None,
    help="Index seeds added, changed or removed while the chat is open, as the writes settle "
    "[default: on; off on Milvus, where the chat only asks].",
)
def chat(seeds_dir: Path, index_dir: Path, plain: bool, watch: bool | None) -> None:
    """Chat with the corpus: the full-screen chat on a terminal, line by line otherwise."""
    on_milvus = os.environ.get("QABOT_BACKEND") == "milvus"
    watch = not on_milvus if watch is None else watch
    if not plain and sys.stdin.isatty() and sys.stdout.isatty():
        if not seeds_dir.is_dir() and not on_milvus:
            click.echo(f"error: seeds folder not found: {seeds_dir}", err=True)
            sys.exit(1)
        from qabot.tui import run as run_tui

        sys.exit(run_tui(seeds_dir, index_dir, watch=watch))

    def run() -> None:
        from qabot.api import QABot

        with progress_bar() as progress:
            bot = QABot(seeds_dir, index_dir, progress=progress)
        summary = bot.summary()
        click.echo(
            f"qabot: {summary.documents} documents, "
            f"{summary.paragraphs} paragraphs. Ask a question; Ctrl+D to quit."
        )
        if watch:
            threading.Thread(target=_say_updates, args=(bot,), daemon=True).start()
        history: list[str] = []
        while True:
            try:
                question = input("> ")
            except EOFError:
                click.echo()
                return
            if not question.strip():
                continue
            try:
                click.echo(render(bot.ask(question, history[-3:])))
                history.append(question)
            except QabotError as exc:
                click.echo(f"error: {exc}")

    _fail_cleanly(run)


@main.command()
@click.option("--sizes", default="10k,100k,1M", show_default=True, help="Corpus sizes.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@data_option(
    "Folder of the public benchmarks' files, whose real texts the synthetic corpora are "
    "derived from"
)
@seeds_option
def bench(sizes: str, as_json: bool, data_dir: Path | None, seeds_dir: Path) -> None:
    """Measure speed beside the baselines, in one run (docs/PERFORMANCE.md)."""

    def run() -> None:
        from qabot.measure.speed.runner import report

        click.echo(report(sizes, seeds_dir, as_json, data_dir))

    _fail_cleanly(run)


@main.command(name="train-reader")
@click.option(
    "--work",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Where examples and checkpoints go (default ~/.cache/qabot/train); a killed run "
    "resumes from here.",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("qabot/data/reader"),
    show_default=True,
    help="Where the reader is written.",
)
@click.option(
    "--data",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="The training data folder (default $QABOT_TRAIN, else ../shared/train).",
)
@click.option("--epochs", type=float, default=None, help="Passes over the training questions.")
@click.option("--max-steps", type=int, default=None, help="Stop after this many steps.")
@click.option("--limit", type=int, default=None, help="Only this many paragraphs a set (tests).")
def train_reader(
    work: Path | None,
    out: Path,
    data: Path | None,
    epochs: float | None,
    max_steps: int | None,
    limit: int | None,
) -> None:
    """Train the reader from ../shared/train and write it to --out (needs torch)."""

    def run() -> None:
        from dataclasses import replace

        from qabot.train import train_reader as train
        from qabot.train.loop import TrainConfig

        config = TrainConfig()
        if epochs is not None:
            config = replace(config, epochs=epochs)
        if max_steps is not None:
            config = replace(config, max_steps=max_steps)
        train(work, out, config, data, limit, say=lambda m: click.echo(m, err=True))
        click.echo(f"reader written to {out}")

    _fail_cleanly(run)


if __name__ == "__main__":
    main()
