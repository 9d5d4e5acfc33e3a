"""Faults of the index, on the real seeds.

* SIGKILL of a real ``qabot index`` process at every stage of a rebuild (through the
  ``QABOT_FAILPOINT`` hook, which makes the process stop itself there) and at random moments:
  the previous index still loads and answers the same, and the next ``qabot index`` finishes.
* A reader loading while another process rebuilds; two rebuilds at once.
* Corrupt, truncated, foreign and booby-trapped indexes: one-line error, then rebuilt.

Everything here loads the models; the kill tests start real processes (about 2 minutes).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from qabot.api import QABot
from qabot.cli import main
from qabot.errors import QabotError
from qabot.index.build import update_index
from qabot.index.generations import index_lock
from qabot.index.load import current_generation, is_stale, load_index
from qabot.index.model import (
    CURRENT,
    FAILPOINT_ENV,
    GEN_PREFIX,
    LOCK,
    STAGES,
    TMP_PREFIX,
    seal,
)

from .built_index import EXTRA, QUESTIONS, Built, answers, copy_index
from .conftest import file_text

pytestmark = pytest.mark.slow

# --------------------------------------------------------------------------- processes


def spawn(args: list[str], log: Path, **env: str) -> subprocess.Popen:
    """``qabot ARGS`` in a new process, its output in ``log``."""
    full_env = {k: v for k, v in os.environ.items() if k != FAILPOINT_ENV} | env
    with log.open("ab") as fh:
        return subprocess.Popen(
            [sys.executable, "-m", "qabot.cli", *map(str, args)],
            stdin=subprocess.DEVNULL,
            stdout=fh,
            stderr=subprocess.STDOUT,
            env=full_env,
        )


def wait_stopped(proc: subprocess.Popen, timeout: float = 240) -> bool:
    """True once the child stopped itself at its failpoint; False when it exited first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid, status = os.waitpid(proc.pid, os.WUNTRACED | os.WNOHANG)
        if pid == 0:
            time.sleep(0.02)
        elif os.WIFSTOPPED(status):
            return True
        else:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return False
    proc.kill()
    raise AssertionError("the rebuild neither stopped nor finished")


def sigkill(proc: subprocess.Popen) -> None:
    if proc.returncode is None:
        proc.send_signal(signal.SIGKILL)
        proc.wait()


def lock_stage(index_dir: Path) -> str:
    """The last stage the lock holder announced ("pid 42 embedding" -> "embedding")."""
    try:
        words = (index_dir / LOCK).read_text(encoding="utf-8").split()
    except FileNotFoundError:
        return "not started"
    return words[2] if len(words) == 3 else "not started"


def leftovers(index_dir: Path) -> list[str]:
    live = current_generation(index_dir)
    return sorted(
        p.name
        for p in index_dir.iterdir()
        if p.name.startswith(TMP_PREFIX) or (p.name.startswith(GEN_PREFIX) and p != live)
    )


def assert_finished(built: Built, index_dir: Path) -> str:
    """The next ``qabot index`` completes the interrupted job and sweeps what it left."""
    result = CliRunner().invoke(
        main, ["index", "--seeds", str(built.new_seeds), "--index", str(index_dir)]
    )
    assert result.exit_code == 0, result.output
    assert not any(p.name.startswith(TMP_PREFIX) for p in index_dir.iterdir())
    assert len(list(index_dir.glob(f"{GEN_PREFIX}*"))) <= 2
    index = load_index(index_dir)
    assert "extra.md" in index.manifest.files
    assert not is_stale(built.new_seeds, index.manifest)
    assert answers(index_dir) == built.new_answers
    with index_lock(index_dir, wait_seconds=0):  # nobody holds the lock any more
        pass
    return result.output


# --------------------------------------------------------------------------- kills


@pytest.mark.parametrize("stage", STAGES)
def test_rebuild_killed_at_each_stage(stage: str, built: Built, tmp_path: Path) -> None:
    index_dir = copy_index(built, tmp_path / "index")
    old = current_generation(index_dir)
    proc = spawn(
        ["index", "--rebuild", "--seeds", built.new_seeds, "--index", index_dir],
        tmp_path / "log",
        **{FAILPOINT_ENV: stage},
    )
    try:
        stopped = wait_stopped(proc)
        assert stopped, (tmp_path / "log").read_text(encoding="utf-8")
        assert lock_stage(index_dir) == stage
    finally:
        sigkill(proc)
    assert proc.returncode == -signal.SIGKILL

    index = load_index(index_dir)
    if stage == "switched":  # killed after the switch: the new index is the live one
        assert index.directory != old and "extra.md" in index.manifest.files
        assert answers(index_dir) == built.new_answers
    else:
        assert index.directory == old and "extra.md" not in index.manifest.files
        assert answers(index_dir) == built.old_answers
        assert is_stale(built.new_seeds, index.manifest)
    left = leftovers(index_dir)
    output = assert_finished(built, index_dir)
    if stage != "switched":
        assert "1 added" in output
    if any(name.startswith(TMP_PREFIX) for name in left):
        assert "removed leftovers of an interrupted run" in output


def wait_locked(proc: subprocess.Popen, index_dir: Path, timeout: float = 240) -> None:
    """Wait until ``proc`` holds the index lock: its imports are over, its work begins."""
    deadline = time.monotonic() + timeout
    while f"pid {proc.pid} " not in (index_dir / LOCK).read_text(encoding="utf-8"):
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.01)


def test_rebuild_killed_at_random_moments(built: Built, tmp_path: Path) -> None:
    """No hook: kills spread over the work of a real rebuild, as a user's Ctrl+\\ would."""
    index_dir = copy_index(built, tmp_path / "index")
    args = ["index", "--rebuild", "--seeds", built.new_seeds, "--index", index_dir]
    full = spawn(args, tmp_path / "log")
    wait_locked(full, index_dir)
    started = time.monotonic()
    assert full.wait(timeout=300) == 0, (tmp_path / "log").read_text(encoding="utf-8")
    work = time.monotonic() - started  # from taking the lock to the end
    assert answers(index_dir) == built.new_answers
    shutil.rmtree(index_dir)
    copy_index(built, index_dir)

    rng = random.Random(6)
    kills = 5
    outcomes = []
    for i in range(kills):
        delay = work * 1.25 * (i + rng.random()) / kills
        proc = spawn(args, tmp_path / "log")
        try:
            wait_locked(proc, index_dir)
            time.sleep(delay)
        finally:
            finished = proc.poll() == 0
            sigkill(proc)
        index = load_index(index_dir)
        state = "new" if "extra.md" in index.manifest.files else "old"
        expected = built.new_answers if state == "new" else built.old_answers
        assert answers(index_dir) == expected
        stage = "finished" if finished else lock_stage(index_dir)
        outcomes.append(
            f"+{delay:.1f}s: {stage} -> {state} index, {len(leftovers(index_dir))} left"
        )
    print(f"\nrebuild works {work:.1f}s after the lock; kills: " + "; ".join(outcomes))
    assert_finished(built, index_dir)


# --------------------------------------------------------------------------- concurrency

WRITER = """
import sys
from pathlib import Path
from qabot.index.build import update_index
seeds, index, rounds, text = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
for _ in range(rounds):
    extra = seeds / "extra.md"
    if extra.exists():
        extra.unlink()
    else:
        extra.write_text(text, encoding="utf-8")
    update_index(seeds, index)
"""


def test_reader_sees_old_or_new_never_a_mix(built: Built, tmp_path: Path) -> None:
    seeds = tmp_path / "seeds"
    shutil.copytree(built.seeds, seeds)
    index_dir = copy_index(built, tmp_path / "index")
    counts = {
        frozenset(load_index(built.index).manifest.files): len(load_index(built.index).paragraphs)
    }
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(seeds), str(index_dir), "6", EXTRA],
        stderr=subprocess.PIPE,
    )
    texts = {name: file_text(built.seeds, name) for name in load_index(built.index).manifest.files}
    loads, generations, asked = 0, set(), 0
    try:
        while writer.poll() is None:
            index = load_index(index_dir)
            loads += 1
            generations.add(index.directory.name)
            files = frozenset(index.manifest.files)
            assert files - {"extra.md"} == frozenset(texts)
            counts.setdefault(files, len(index.paragraphs))
            assert len(index.paragraphs) == counts[files]
            for p in index.paragraphs:
                # Markdown is quoted as rendered: the index keeps that text
                source = index.extracted_text(p.doc) if p.doc == "extra.md" else texts[p.doc]
                assert source is not None
                assert source[p.start : p.end] == p.text
            assert index.sentence_vectors.shape[0] == index.manifest.sentences
            if loads % 5 == 0:
                QABot(seeds, index_dir, refresh=False).ask(QUESTIONS[0])
                asked += 1
    finally:
        _, err = writer.communicate(timeout=300)
    assert writer.returncode == 0, err.decode()
    print(f"\n{loads} loads during 6 rebuilds saw {len(generations)} generations, {asked} asks")
    assert loads >= 5 and len(generations) >= 2


def test_two_rebuilds_at_once(built: Built, tmp_path: Path) -> None:
    index_dir = copy_index(built, tmp_path / "index")
    first = spawn(
        ["index", "--rebuild", "--seeds", built.seeds, "--index", index_dir],
        tmp_path / "first.log",
        **{FAILPOINT_ENV: "embedding"},
    )
    second = None
    try:
        assert wait_stopped(first), (tmp_path / "first.log").read_text(encoding="utf-8")
        # a rebuild that will not wait long refuses, in one line that says who holds the lock
        with pytest.raises(QabotError) as refused:
            update_index(built.seeds, index_dir, wait_seconds=0.5)
        message = str(refused.value)
        assert "\n" not in message
        assert f"another qabot (pid {first.pid}, embedding) is rebuilding the index" in message
        # the CLI's rebuild waits for the first one, then does its (now empty) job
        second = spawn(
            ["index", "--seeds", built.seeds, "--index", index_dir], tmp_path / "second.log"
        )
        time.sleep(3)
        assert second.poll() is None
        first.send_signal(signal.SIGCONT)
        assert first.wait(timeout=300) == 0
        assert second.wait(timeout=300) == 0
    finally:
        sigkill(first)
        if second is not None:
            sigkill(second)
    assert "5 unchanged" in (tmp_path / "second.log").read_text(encoding="utf-8")
    assert answers(index_dir) == built.old_answers


# --------------------------------------------------------------------------- damaged indexes


def _edit_manifest(generation: Path, change) -> None:
    path = generation / "manifest.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    data["seal"] = seal(data)  # a consistent forgery, not a damaged file
    path.write_text(json.dumps(data), encoding="utf-8")


def _replace_data(generation: Path, name: str, payload: bytes) -> None:
    (generation / name).write_bytes(payload)
    _edit_manifest(
        generation,
        lambda m: m["checksums"].update({name: hashlib.sha256(payload).hexdigest()}),
    )


def _truncate(path: Path) -> None:
    os.truncate(path, path.stat().st_size // 2)


def _flip(path: Path) -> None:
    with path.open("r+b") as fh:
        fh.seek(path.stat().st_size // 2)
        byte = fh.read(1)
        fh.seek(-1, os.SEEK_CUR)
        fh.write(bytes([byte[0] ^ 0xFF]))


def _npy(array: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=True)
    return buf.getvalue()


class _Trap:
    """Unpickling this runs ``touch MARKER``: what a booby-trapped index would do."""

    marker = ""

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


DAMAGE = {
    "truncated vectors": (lambda g: _truncate(g / "sentences.npy"), "sentences.npy fails"),
    "truncated sqlite": (lambda g: _truncate(g / "corpus.sqlite"), "corpus.sqlite fails"),
    "flipped byte in faiss": (lambda g: _flip(g / "paragraphs.faiss"), "paragraphs.faiss fails"),
    "data file missing": (lambda g: (g / "corpus.sqlite").unlink(), "corpus.sqlite missing"),
    "manifest missing": (lambda g: (g / "manifest.json").unlink(), "manifest missing"),
    "manifest not json": (
        lambda g: (g / "manifest.json").write_text("{oops", encoding="utf-8"),
        "unreadable manifest",
    ),
    "manifest hand-edited": (
        lambda g: (g / "manifest.json").write_text(
            (g / "manifest.json").read_text(encoding="utf-8").replace('"title": "', '"title": "X'),
            encoding="utf-8",
        ),
        "manifest was edited",
    ),
    "manifest checksums null, sealed again": (
        lambda g: _edit_manifest(g, lambda m: m.update(checksums=None)),
        "unreadable manifest",
    ),
    "manifest file entry of another shape, sealed again": (
        lambda g: _edit_manifest(g, lambda m: m["files"][0].update(size="big")),
        "unreadable manifest",
    ),
    "manifest file entry with falling marks, sealed again": (
        lambda g: _edit_manifest(g, lambda m: m["files"][0].update(marks=[9, 2], unit="page")),
        "unreadable manifest",
    ),
    "manifest file entry with an escape sequence for a unit, sealed again": (
        lambda g: _edit_manifest(g, lambda m: m["files"][0].update(marks=[0], unit="\x1b]0;x")),
        "unreadable manifest",
    ),
    "newer format": (
        lambda g: _edit_manifest(g, lambda m: m.update(format_version=99)),
        "has format 99",
    ),
    "other model": (
        lambda g: _edit_manifest(g, lambda m: m.update(model="bert-base@1")),
        "was built with bert-base@1",
    ),
    "other dimension": (
        lambda g: _edit_manifest(g, lambda m: m.update(dimension=768)),
        "(768d)",
    ),
    "vectors of another dimension": (
        lambda g: _replace_data(g, "sentences.npy", _npy(np.zeros((148, 768), np.float32))),
        "counts disagree",
    ),
    "sqlite replaced by junk": (
        lambda g: _replace_data(g, "corpus.sqlite", b"not a database" * 100),
        "is corrupt",
    ),
    "BM25 rows out of order": (
        lambda g: _replace_data(g, "bm25_indptr.npy", _npy(np.load(g / "bm25_indptr.npy")[::-1])),
        "BM25 arrays disagree",
    ),
    "truncated word vectors": (lambda g: _truncate(g / "words.npy"), "words.npy fails"),
    "word vectors of another shape": (
        lambda g: _replace_data(g, "words.npy", _npy(np.zeros((3, 384), np.float32))),
        "counts disagree",
    ),
    "pickle bomb in word vectors": (
        lambda g: _replace_data(g, "words.npy", _npy(np.array([_Trap()], dtype=object))),
        "allow_pickle",
    ),
    "pickle bomb in vectors": (
        lambda g: _replace_data(g, "sentences.npy", _npy(np.array([_Trap()], dtype=object))),
        "allow_pickle",
    ),
    "CURRENT names a missing folder": (
        lambda g: (g.parent / CURRENT).write_text("gen-gone\n", encoding="utf-8"),
        "names a missing folder",
    ),
    "CURRENT is a folder": (
        lambda g: ((g.parent / CURRENT).unlink(), (g.parent / CURRENT).mkdir()),
        "CURRENT is a folder",
    ),
    "CURRENT empty": (
        lambda g: (g.parent / CURRENT).write_text("", encoding="utf-8"),
        "bad CURRENT pointer",
    ),
    "CURRENT not UTF-8": (
        lambda g: (g.parent / CURRENT).write_bytes(b"\xff\xfe"),
        "unreadable",
    ),
}


REBUILT = {
    "truncated vectors",
    "manifest checksums null, sealed again",
    "manifest hand-edited",
    "other model",
    "pickle bomb in vectors",
    "CURRENT names a missing folder",
    "CURRENT is a folder",
}


@pytest.mark.parametrize("case", DAMAGE)
def test_damaged_index_is_reported_in_one_line_and_rebuilt(
    case: str, built: Built, tmp_path: Path
) -> None:
    damage, expected = DAMAGE[case]
    index_dir = copy_index(built, tmp_path / "index")
    _Trap.marker = str(tmp_path / "trap-ran")
    damage(current_generation(index_dir))
    with pytest.raises(QabotError) as caught:
        load_index(index_dir)
    message = str(caught.value)
    assert expected in message and "\n" not in message
    assert not Path(_Trap.marker).exists()  # nothing on disk was unpickled

    if case not in REBUILT:  # each rebuild re-embeds the corpus: one per kind of damage
        return
    report = update_index(built.seeds, index_dir)
    assert expected in report.rebuilt_reason
    assert len(report.added) == 5
    assert answers(index_dir) == built.old_answers


def test_a_current_folder_with_files_in_it_is_kept_and_named(built: Built, tmp_path: Path) -> None:
    index_dir = copy_index(built, tmp_path / "index")
    (index_dir / CURRENT).unlink()
    (index_dir / CURRENT).mkdir()
    (index_dir / CURRENT / "notes.txt").write_text("mine", encoding="utf-8")
    args = ["--seeds", str(built.seeds), "--index", str(index_dir)]
    result = CliRunner().invoke(main, ["index", *args])
    assert result.exit_code == 1
    assert "CURRENT is a folder with files in it" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert (index_dir / CURRENT / "notes.txt").read_text(encoding="utf-8") == "mine"


def test_ask_answers_from_the_last_good_index_while_it_cannot_be_updated(
    built: Built, tmp_path: Path
) -> None:
    index_dir = copy_index(built, tmp_path / "index")
    seeds = tmp_path / "seeds"
    shutil.copytree(built.new_seeds, seeds)  # the seeds changed: extra.md is new
    args = ["--seeds", str(seeds), "--index", str(index_dir)]
    with index_lock(index_dir):  # another qabot is rebuilding it
        shown = CliRunner().invoke(main, ["ask", QUESTIONS[0], *args])
        as_json = CliRunner().invoke(main, ["ask", QUESTIONS[0], "--json", *args])
    assert shown.exit_code == 0, shown.output
    assert shown.stderr.startswith("stale: the seeds changed, but the index could not be updated")
    assert "is rebuilding the index" in shown.stderr
    assert "Yoav Gallant" in shown.stdout
    data = json.loads(as_json.stdout)
    assert data["stale"].startswith("the seeds changed") and data["answers"]
    # once the lock is free, the next ask updates the index and is no longer stale
    fresh = CliRunner().invoke(main, ["ask", QUESTIONS[0], "--json", *args])
    assert fresh.exit_code == 0 and json.loads(fresh.stdout)["stale"] == ""


def test_ask_and_rebuild_flag_recover_a_damaged_index(built: Built, tmp_path: Path) -> None:
    index_dir = copy_index(built, tmp_path / "index")
    _truncate(current_generation(index_dir) / "paragraphs.faiss")
    args = ["--seeds", str(built.seeds), "--index", str(index_dir)]
    result = CliRunner().invoke(main, ["ask", QUESTIONS[0], *args])
    assert result.exit_code == 0, result.output
    assert "rebuilt from the seeds: index at" in result.stderr
    assert "paragraphs.faiss fails its checksum" in result.stderr
    assert "Yoav Gallant" in result.stdout

    _flip(current_generation(index_dir) / "corpus.sqlite")
    result = CliRunner().invoke(main, ["index", "--rebuild", *args])
    assert result.exit_code == 0 and "rebuilt from the seeds: --rebuild" in result.output
    assert answers(index_dir) == built.old_answers


def test_index_into_a_foreign_folder_is_refused(built: Built, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("my notes", encoding="utf-8")
    result = CliRunner().invoke(
        main, ["index", "--seeds", str(built.seeds), "--index", str(tmp_path)]
    )
    assert result.exit_code == 1
    assert result.stderr.startswith("error: index folder") and "holds no qabot index" in (
        result.stderr
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_nothing_is_loaded_with_pickle() -> None:
    """No module of qabot can execute code from a file: no pickle, no pickled numpy."""
    forbidden = ("import pickle", "pickle.load", "torch.load", "joblib", "dill", "shelve")
    for path in (Path(__file__).parent.parent / "qabot").rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        for word in forbidden:
            assert word not in source, (path.name, word)
        for line in source.splitlines():
            if "np.load(" in line or "numpy.load(" in line:
                assert "allow_pickle=False" in line, (path.name, line)
