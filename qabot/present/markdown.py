"""A chat as a Markdown file: every quote with the sources a reader needs to check it."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from qabot.present.citations import in_file, sources
from qabot.present.display import safe
from qabot.records import AskResult

# Characters that Markdown would read as syntax anywhere in a line (emphasis, links, HTML,
# entities, tables), and line openings that would turn a line into a heading, list or rule.
_INLINE = re.compile(r"([\\`*_\[\]<>#|~!&])")
_OPENING = re.compile(r"^\s*\d+(?=[.)](?:\s|$))|^\s*(?=[-+=])", re.MULTILINE)


def _md(text: str) -> str:
    """Text from the corpus or the user, shown by a Markdown viewer exactly as it is written.

    A quote must not become a link (a ``[1]: url`` line would define one), HTML, emphasis or a
    heading; and a raw escape sequence must not act on the terminal of whoever ``cat``s it.
    """
    # Leading spaces would make an indented code block, where escapes show as backslashes.
    text = "\n".join(line.lstrip(" \t") for line in safe(text).split("\n"))
    return _OPENING.sub(lambda m: m.group() + "\\", _INLINE.sub(r"\\\1", text))


def _quoted(text: str) -> str:
    """Corpus text inside a Markdown blockquote, one ``>`` per line."""
    # split("\n"), not splitlines(): U+2028 does not end a line for Markdown, nor here
    return "\n".join(f"> {line}" if line else ">" for line in _md(text).split("\n"))


def to_markdown(turns: Sequence[AskResult], *, title: str) -> str:
    """The turns of a chat under ``title``: each question, its answers quoted with numbered
    sources (file, paragraph, characters), and the closest evidence when it abstained."""
    lines = [f"# {title}", ""]
    for i, result in enumerate(turns, 1):
        lines += [f"## {i}. {_md(result.question)}", ""]
        if result.resolved_question != result.question:
            lines += [f"*Read as: {_md(result.resolved_question)}*", ""]
        groups = sources(result)
        if result.abstained:
            lines += ["**The corpus does not answer this question.**", ""]
            if result.note:
                lines += [f"*{_md(result.note)}*", ""]
            if groups:
                lines += ["Closest evidence (not an answer):", ""]
        elif result.conflict:
            lines += ["**Sources disagree**: each version is shown with its own source.", ""]
        for k, answer in enumerate(result.answers if not result.abstained else [], 1):
            short = f"**{_md(answer.short_answer.text)}** — " if answer.short_answer else ""
            marks = " ".join(f"[{s.number}]" for s in groups[k - 1])
            lines += [
                f"{k}. {short}{marks} (score {answer.score:.2f})",
                "",
                _quoted(answer.text),
                "",
            ]
        if any(groups):
            lines += ["Sources:", ""]
        for group in groups:
            for s in group:
                place = s.place
                lines.append(
                    f"- [{s.number}] {_md(place.title)} — {_md(place.doc)}, "
                    f"paragraph {place.paragraph}, characters {place.start}–{place.end}"
                    f"{_md(in_file(place))}"
                )
                if not s.is_answer:
                    lines += ["", _quoted(place.text), ""]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def export_chat(results: list[AskResult], folder: Path, file: Path | None = None) -> Path:
    """Write ``results`` as Markdown to ``file``, or to a new file named for the time in
    ``folder`` (or in ``file`` when that is a folder); never over an existing file
    (FileExistsError)."""
    now = datetime.now()
    text = to_markdown(results, title=f"qabot chat, {now:%Y-%m-%d %H:%M}")
    if file is None or file.is_dir():
        return _write_new(file or folder, f"qabot-chat-{now:%Y%m%d-%H%M%S}", text)
    with file.open("x", encoding="utf-8") as f:  # "x": never overwrite a file
        f.write(text)
    return file


def _write_new(folder: Path, stem: str, text: str) -> Path:
    """Write ``text`` to ``folder/stem.md``, or ``stem-2.md``… if that exists."""
    for n in range(1, 1000):
        target = folder / (f"{stem}.md" if n == 1 else f"{stem}-{n}.md")
        try:
            with target.open("x", encoding="utf-8") as f:
                f.write(text)
        except FileExistsError:
            continue
        return target
    raise FileExistsError(0, "too many exports with this name", str(folder / stem))
