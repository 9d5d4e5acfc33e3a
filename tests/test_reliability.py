"""Faults, hostile input and privacy, on the real seeds: issue #6.

* SIGKILL of a real ``qabot index`` process at every stage of a rebuild (through the
  ``QABOT_FAILPOINT`` hook, which makes the process stop itself there) and at random moments:
  the previous index still loads and answers the same, and the next ``qabot index`` finishes.
* A reader loading while another process rebuilds; two rebuilds at once.
* Corrupt, truncated, foreign and booby-trapped indexes: one-line error, then rebuilt.
* Messy seeds folders and strange questions: skipped with a reason, or answered; no crash.
* No network: ``index`` and ``ask`` in a process whose sockets refuse to connect (and in a
  network namespace without interfaces where ``unshare`` is allowed).
* Corpus text reaches the terminal inert.

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
import tracemalloc
from dataclasses import dataclass
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
from qabot.index.model import CURRENT, FAILPOINT_ENV, GEN_PREFIX, LOCK, STAGES, TMP_PREFIX, seal

from .conftest import SEEDS, file_text

pytestmark = pytest.mark.slow

QUESTIONS = [
    "Who is Israel's defense minister?",
    "How much humanitarian aid has the US pledged to Gaza?",
    "How long a truce with Hamas has the U.S. been pressing Israel to accept?",
    "Which VOA reporters contributed to the article on the Israeli–US diplomatic spat?",
]
EXTRA = (
    "# Water deliveries in the north\n\n"
    "The Dunmore water board said on Monday that 12 tankers delivered drinking water to "
    "three northern villages after the pipeline broke.\n"
)


def signature(bot: QABot) -> list[tuple]:
    """What "answers the same" means: the same quotes, from the same places, or abstention."""
    out = []
    for q in QUESTIONS:
        r = bot.ask(q)
        out.append((r.abstained, tuple((a.text, a.doc, a.start, a.end) for a in r.answers)))
    return out


def answers(index_dir: Path) -> list[tuple]:
    return signature(QABot(SEEDS, index_dir, refresh=False))


@dataclass
class Built:
    seeds: Path  # the real seeds
    new_seeds: Path  # the real seeds plus extra.md
    index: Path  # built from ``seeds``
    old_answers: list[tuple]
    new_answers: list[tuple]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    root = tmp_path_factory.mktemp("reliability")
    seeds, new_seeds = root / "seeds", root / "new_seeds"
    shutil.copytree(SEEDS, seeds)
    shutil.copytree(SEEDS, new_seeds)
    (new_seeds / "extra.md").write_text(EXTRA, encoding="utf-8")
    update_index(seeds, root / "index")
    update_index(new_seeds, root / "new_index")
    return Built(
        seeds, new_seeds, root / "index", answers(root / "index"), answers(root / "new_index")
    )


def copy_index(built: Built, target: Path) -> Path:
    shutil.copytree(built.index, target)
    return target


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
                source = EXTRA if p.doc == "extra.md" else texts[p.doc]
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
    "manifest hand-edited",
    "other model",
    "pickle bomb in vectors",
    "CURRENT names a missing folder",
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


# --------------------------------------------------------------------------- bad seeds


def messy_seeds(root: Path) -> dict[str, str]:
    """A seeds folder with every kind of trouble; returns name -> expected outcome
    ("indexed" or a fragment of the skip reason)."""
    root.mkdir()
    real = sorted(SEEDS.iterdir())
    expected: dict[str, str] = {}

    def put(name: str, data: bytes, outcome: str) -> Path:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        expected[name] = outcome
        return path

    # the real articles, under nested folders and awkward names
    put("news/2024 march/Gaza report 1.txt", real[0].read_bytes(), "indexed")
    put("news/ünïcödé/état-major – 2.txt", real[1].read_bytes(), "indexed")
    put("deep/a/b/c/d/e/3.md", real[2].read_bytes(), "indexed")
    put("spaces in name.txt", real[3].read_bytes(), "indexed")
    put(
        "BOM and CRLF.txt",
        b"\xef\xbb\xbf" + real[4].read_bytes().replace(b"\n", b"\r\n"),
        "indexed",
    )
    put("binary.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + os.urandom(64), "binary file")
    put("late nul.txt", b"A" * 9000 + b"\x00" + b"B" * 10, "binary file")
    put("latin-1.txt", "Le ministre a déclaré".encode("latin-1"), "not UTF-8 text")
    put("utf-16.txt", "Hello there".encode("utf-16"), "binary file")
    put("empty.txt", b"", "empty file")
    put("blank.md", b" \n\t\n  \r\n", "empty file")
    big = put("huge.txt", b"", "too large (100 MB; limit 50 MB)")
    os.truncate(big, 100 * 1024 * 1024)  # sparse: instant, takes no disk
    os.symlink("loop-b.txt", root / "loop-a.txt")
    os.symlink("loop-a.txt", root / "loop-b.txt")
    expected["loop-a.txt"] = expected["loop-b.txt"] = "cannot stat"
    os.symlink("nowhere.txt", root / "dangling.txt")
    expected["dangling.txt"] = "cannot stat"
    os.symlink(".", root / "self-loop")
    expected["self-loop/"] = "symlinked folder"
    os.mkfifo(root / "pipe.txt")  # reading it would block forever
    expected["pipe.txt"] = "not a regular file"
    put("folder.txt/inside.txt", b"A note inside a folder whose name ends in .txt.", "indexed")
    bad_name = os.fsencode(root) + b"/caf\xe9.txt"
    with open(bad_name, "wb") as fh:
        fh.write(b"Readable text, unreadable name.")
    expected["caf\\xe9.txt"] = "file name is not valid UTF-8"
    put("evil\x1b[2J\n.txt", b"Text behind a name that clears the screen.", "control characters")
    expected["evil\\x1b[2J\\x0a.txt"] = expected.pop("evil\x1b[2J\n.txt")
    put(".hidden.txt", b"never read", "ignored")
    put("picture.png", b"\x89PNG", "ignored")
    locked = put("no permission.txt", b"Secret text nobody may read.", "permission denied")
    locked.chmod(0)
    closed = root / "closed folder"
    put("closed folder/inside.txt", b"Text in a folder nobody may list.", "ignored")
    closed.chmod(0)
    expected["closed folder/"] = "cannot read folder"
    if os.geteuid() == 0:  # root reads and lists anything: the file is simply indexed
        expected["no permission.txt"] = "indexed"
        expected.pop("closed folder/")
        expected["closed folder/inside.txt"] = "indexed"
    return expected


def test_messy_seeds_folder(built: Built, tmp_path: Path) -> None:
    seeds = tmp_path / "seeds"
    expected = messy_seeds(seeds)
    index_dir = tmp_path / "index"
    try:
        result = CliRunner().invoke(
            main, ["index", "--seeds", str(seeds), "--index", str(index_dir)]
        )
        again = CliRunner().invoke(
            main, ["index", "--seeds", str(seeds), "--index", str(index_dir)]
        )
        stale = is_stale(seeds, load_index(index_dir).manifest)
    finally:
        (seeds / "no permission.txt").chmod(0o644)
        (seeds / "closed folder").chmod(0o755)
    assert result.exit_code == 0, result.output
    assert b"\x1b" not in result.stdout_bytes
    index = load_index(index_dir)
    skipped = {s.name: s.reason for s in index.manifest.skipped}
    for name, outcome in expected.items():
        if outcome == "indexed":
            assert name in index.manifest.files, name
        elif outcome == "ignored":
            assert name not in index.manifest.files and name not in skipped
        else:
            assert outcome in skipped[name], (name, skipped.get(name))
            assert f"skipped {name}: {skipped[name]}" in result.stdout
    assert set(index.manifest.files) == {n for n, o in expected.items() if o == "indexed"}
    # the articles answer as they do in the clean folder, quoting exact text
    bot = QABot(seeds, index_dir, refresh=False)
    for (abstained, quotes), (old_abstained, old_quotes) in zip(
        signature(bot), built.old_answers, strict=True
    ):
        assert abstained == old_abstained
        assert quotes[:1] == () or quotes[0][0] == old_quotes[0][0]  # the same best quote
        for text, doc, start, end in quotes:
            assert file_text(seeds, doc)[start:end] == text
    # a messy folder is not "always stale": the second run has nothing to do
    assert again.exit_code == 0 and "0 texts embedded" in again.stdout
    assert not stale


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: None, "error: seeds folder not found"),
        (lambda p: p.mkdir(), "error: no readable .txt or .md files"),
        (lambda p: p.write_text("a file", encoding="utf-8"), "error: seeds path is not a folder"),
        (
            lambda p: (p.mkdir(), (p / "x.txt").write_bytes(b"\x00bin")),
            "error: no readable .txt or .md files in",
        ),
    ],
    ids=["missing", "empty", "a file", "only bad files"],
)
def test_unusable_seeds_folder_is_one_line(make, message: str, tmp_path: Path) -> None:
    seeds = tmp_path / "seeds"
    make(seeds)
    for command in (["index"], ["ask", "Who?"]):
        result = CliRunner().invoke(
            main, [*command, "--seeds", str(seeds), "--index", str(tmp_path / "index")]
        )
        assert result.exit_code == 1
        assert result.stderr.startswith(message) and result.stderr.count("\n") == 1
        assert "Traceback" not in result.output


# --------------------------------------------------------------------------- bad questions

QUESTION_CASES = {
    "empty": "",
    "whitespace": " \t\n\r ",
    "1 MB": "x" * 1_000_000,
    "1 MB of words": "Who is the defense minister? " * 40_000,
    "control characters": "Who\x00 is\x07 Israel's\x1b[31m defense\x9b minister?\x1b[0m",
    "only punctuation": "?!?... ;;; ---",
    "Chinese": "以色列国防部长是谁？",
    "Arabic": "من هو وزير الدفاع الإسرائيلي؟",
    "emoji": "🚀🔥💣❓",
    "emoji and words": "👉 Who is Israel's defense minister? 🤔",
    "lone surrogate": "Who is \ud800 Gallant?",
    "right-to-left override": "\u202eWho is Israel's defense minister?",
    "zero-width": "Who\u200b is\u200d Gallant\ufeff?",
    "combining marks": "Gallant" + "\u0301" * 900,
    "just under the limit": "Gaza aid ceasefire Rafah " * 39,
    "stopwords": "who is it that was there",
}


@pytest.mark.parametrize("case", QUESTION_CASES)
def test_strange_questions(case: str, bot: QABot) -> None:
    question = QUESTION_CASES[case]
    huge = len(question) > 100_000
    if huge:  # memory stays bounded: the text is refused before anything is built from it
        tracemalloc.start()
    outcomes: list[str] = []
    for history in ([], [question[:500], "Who is Gallant?"]):
        try:
            result = bot.ask(question, history=history)
        except QabotError as exc:
            message = str(exc)
            assert message and "\n" not in message and len(message) < 200
            outcomes.append(message)
            continue
        for answer in result.answers:
            assert file_text(SEEDS, answer.doc)[answer.start : answer.end] == answer.text
        assert result.answers or result.abstained
        assert "\x1b" not in result.question and "\x00" not in result.question
        outcomes.append("abstained: " + result.note if result.abstained else "answered")
    if huge:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert peak < 16 * 1024 * 1024, f"{peak / 1e6:.0f} MB"
    first = outcomes[0]
    if case in ("empty", "whitespace"):
        assert first == "question is empty"
    elif huge:
        assert first.startswith("question is too long")
    elif case in ("only punctuation", "emoji", "stopwords"):
        assert first.startswith("abstained: the question has no words")
    else:
        assert not first.startswith("question"), first


def test_strange_questions_on_the_command_line(built: Built, tmp_path: Path) -> None:
    index_dir = copy_index(built, tmp_path / "index")
    args = ["--seeds", str(built.seeds), "--index", str(index_dir)]
    for question in ("🚀🔥💣", "?!?", "以色列国防部长是谁？", "x" * 100_001, "   "):
        result = CliRunner().invoke(main, ["ask", question, *args])
        assert "Traceback" not in result.output
        if result.exit_code:
            assert result.exit_code == 1 and result.stderr.count("\n") == 1
        else:
            assert result.stdout.startswith("Q: ")


# --------------------------------------------------------------------------- terminal


def test_corpus_text_reaches_the_terminal_inert(built: Built, tmp_path: Path) -> None:
    seeds = tmp_path / "seeds"
    shutil.copytree(built.seeds, seeds)
    hostile = (
        "# Monitor report\n\n"
        "The ceasefire monitor \x1b[31mZebulon Quarry\x1b[0m counted [bold]forty-two[/bold] "
        "violations on Tuesday.\x07 The report \x9b2J was filed in [link=http://x]Geneva[/link].\n"
    )
    (seeds / "hostile.txt").write_text(hostile, encoding="utf-8")
    args = ["--seeds", str(seeds), "--index", str(tmp_path / "index")]
    question = "How many violations did the ceasefire monitor count?"
    plain = CliRunner().invoke(main, ["ask", question, *args])
    assert plain.exit_code == 0, plain.output
    out = plain.stdout_bytes
    assert b"\x1b" not in out and b"\x07" not in out and "\x9b".encode() not in out
    assert "\\x1b[31mZebulon Quarry\\x1b[0m" in plain.stdout
    assert "[bold]forty-two[/bold]" in plain.stdout  # shown, not interpreted as markup

    as_json = CliRunner().invoke(main, ["ask", question, "--json", *args])
    assert b"\x1b" not in as_json.stdout_bytes and "\x9b".encode() not in as_json.stdout_bytes
    data = json.loads(as_json.stdout)  # still exact: the escapes are JSON's, not lost
    # answered or not, the hostile paragraph is quoted (as an answer or as evidence)
    quoted = [q for q in data["answers"] + data["evidence"] if q["doc"] == "hostile.txt"]
    assert quoted and all(hostile[q["start"] : q["end"]] == q["text"] for q in quoted)
    assert any("\x1b[31mZebulon" in q["text"] for q in quoted)


# --------------------------------------------------------------------------- offline

GUARD = """
import os, socket, sys
log = os.environ["QABOT_NET_LOG"]
def refuse(*args, **kwargs):
    with open(log, "a") as fh:
        fh.write(repr(args)[:300] + "\\n")
    raise OSError("network disabled by the test")
for name in ("connect", "connect_ex", "sendto", "sendmsg"):
    setattr(socket.socket, name, refuse)
socket.create_connection = socket.getaddrinfo = socket.gethostbyname = refuse
import atexit
atexit.register(lambda: print("HF_HUB_OFFLINE=" + os.environ.get("HF_HUB_OFFLINE", ""),
                              file=sys.stderr))
from qabot.cli import main
sys.argv[0] = "qabot"
main()
"""


def _network_namespace() -> list[str]:
    """``unshare -rn`` where this machine allows it: a namespace with no network at all."""
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "-rn", "true"], capture_output=True).returncode == 0:
        return [unshare, "-rn"]
    return []


def test_index_and_ask_work_with_the_network_gone(built: Built, tmp_path: Path) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("HF_", "TRANSFORMERS_", "SENTENCE_TRANSFORMERS")) and "proxy" not in k
    }
    env |= {
        "QABOT_NET_LOG": str(tmp_path / "net.log"),
        "HF_HOME": str(tmp_path / "empty-hf-home"),  # no cache to fall back on
    }
    jail = _network_namespace()
    args = ["--seeds", str(built.seeds), "--index", str(tmp_path / "index")]
    outputs = []
    for command in (["index", *args], ["ask", QUESTIONS[0], *args]):
        run = subprocess.run(
            [*jail, sys.executable, "-c", GUARD, *command],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
        assert run.returncode == 0, run.stderr
        assert "HF_HUB_OFFLINE=1" in run.stderr  # qabot set it itself: the env had none
        outputs.append(run.stdout)
    assert "5 added" in outputs[0]
    assert "Yoav Gallant" in outputs[1]
    assert not (tmp_path / "net.log").exists(), (tmp_path / "net.log").read_text()
    print(f"\noffline run {'in a network namespace and ' if jail else ''}with sockets refusing")
