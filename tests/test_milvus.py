"""qabot on Milvus (``qabot.milvus``): Milvus Lite started on loopback for the session, the
real seeds indexed there, and the answers compared with the local backend's."""

from __future__ import annotations

import ipaddress
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from qabot.api import QABot
from qabot.errors import QabotError

from .conftest import SEEDS
from .test_index_faults import sigkill, spawn, wait_stopped

pytestmark = pytest.mark.slow

GALLANT = "Which Israeli defense minister visited Washington?"


@pytest.fixture(scope="module")
def lite(tmp_path_factory: pytest.TempPathFactory):
    """Milvus Lite on 127.0.0.1, a free port, its data in a temporary folder; stopped by its
    process id at the end."""
    from qabot.milvus.server import start_lite

    server = start_lite(tmp_path_factory.mktemp("milvus"))
    yield server
    server.stop()
    assert server.process.poll() is not None


def milvus_bot(seeds: Path, index_dir: Path, uri: str, name: str, **kw) -> QABot:
    """A bot on the Milvus backend, its corpus under alias ``name`` (each test its own)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("QABOT_MILVUS_COLLECTION", name)
        return QABot(seeds, index_dir, backend="milvus", milvus_uri=uri, **kw)


def published(seeds: Path, index_dir: Path, uri: str, name: str) -> QABot:
    """A bot that indexes ``seeds`` and publishes them to Milvus (as ``qabot index`` does)."""
    bot = milvus_bot(seeds, index_dir, uri, name, lazy=True, publish=True)
    bot.refresh()
    bot.load()
    return bot


def listening_on(port: int) -> set[str]:
    """The addresses with a socket listening on ``port`` (/proc/net/tcp, tcp6)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, _, hex_port = local.rpartition(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                # host-order 32-bit words: reverse each
                raw = b"".join(
                    bytes.fromhex(address[i : i + 8])[::-1] for i in range(0, len(address), 8)
                )
                ip = ipaddress.ip_address(raw)
                mapped = getattr(ip, "ipv4_mapped", None)
                found.add(str(mapped or ip))
    return found


def top(bot: QABot, question: str) -> tuple[str, int, int] | None:
    result = bot.ask(question)
    if result.abstained or not result.answers:
        return None
    a = result.answers[0]
    return (a.doc, a.start, a.end)


def test_the_dev_questions_get_the_local_backends_answers(
    lite, bot, dev_questions, tmp_path: Path
) -> None:
    remote = published(SEEDS, tmp_path / "index", lite.uri, "dev")
    assert remote.summary().paragraphs == bot.summary().paragraphs
    assert remote.summary().documents == bot.summary().documents
    # the corpus read whole (as evaluation reads it) is the local one
    assert list(remote.index.paragraphs) == list(bot.index.paragraphs)
    pairs = [(top(remote, q["question"]), top(bot, q["question"])) for q in dev_questions]
    assert sum(there == here for there, here in pairs) >= 18, pairs
    answered = [(there, here) for there, here in pairs if here is not None]
    assert sum(there == here for there, here in answered) >= len(answered) - 2, pairs
    # the citations are exact in the files themselves
    result = remote.ask(GALLANT)
    for answer in result.answers:
        text = (SEEDS / answer.doc).read_text(encoding="utf-8")
        assert text[answer.start : answer.end] == answer.text


def test_bm25_in_milvus_scores_as_rank_bm25(lite, bot, tmp_path: Path) -> None:
    """The paragraphs' IDF-free weights times the question's IDFs are BM25Okapi's scores."""
    from qabot.ingest.embedding import embed
    from qabot.search.retrieval import Query

    remote = published(SEEDS, tmp_path / "index", lite.uri, "bm25")
    for question in (GALLANT, "arms shipment dispute", "ceasefire resolution Security Council"):
        q = Query(bot.retriever.analyze(question), embed([question])[0])
        local = bot.retriever.rank(q, 10, "bm25")
        there = remote.retriever.rank(q, 10, "bm25")
        np.testing.assert_allclose([h.bm25 for h in there], [h.bm25 for h in local], rtol=1e-4)
        cut = local[-1].bm25 + 1e-3  # paragraphs tied at the cut may differ
        want = {bot.index.paragraphs[h.paragraph_id].text for h in local if h.bm25 > cut}
        got = {remote.index.paragraphs[h.paragraph_id].text for h in there if h.bm25 > cut}
        assert got == want and want


def test_added_changed_and_removed_seeds_are_reflected(
    lite, seeds_copy: Path, tmp_path: Path
) -> None:
    index_dir = tmp_path / "index"
    remote = published(seeds_copy, index_dir, lite.uri, "changes")
    names = sorted(remote.index.manifest.files)
    (seeds_copy / "extra.txt").write_text(
        "Zorbal Quennick was named harbour master of Ashdod on Monday.\n", encoding="utf-8"
    )
    removed, changed = names[0], names[1]
    (seeds_copy / removed).unlink()
    text = (seeds_copy / changed).read_text(encoding="utf-8")
    head, _, rest = text.partition("\n\n")  # after the title: the end may be a footer
    new = "The lighthouse keeper Orvil Pantaleo counted nine ships in the harbour of Haifa."
    (seeds_copy / changed).write_text(f"{head}\n\n{new}\n\n{rest}", encoding="utf-8")
    report = remote.refresh()
    assert report.added == ["extra.txt"] and report.removed == [removed]
    assert report.changed == [changed]
    files = remote.index.manifest.files
    assert remote.summary().paragraphs == sum(f.paragraphs for f in files.values())
    assert "extra.txt" in files and removed not in files
    assert top(remote, "Who was named harbour master of Ashdod?")[0] == "extra.txt"
    found = remote.retrieve("Who counted nine ships in Haifa?")[0]
    assert found.doc == changed and new in found.text
    # no row of the removed file, nor of the changed file's old version, is left
    client, collection = remote.index.client, remote.index.collection
    docs = {r["doc"] for r in client.query(collection, filter="pid >= 0", output_fields=["doc"])}
    assert removed not in docs
    rows = client.query(collection, filter=f'doc == "{changed}" and k == -1', output_fields=["pid"])
    assert len(rows) == files[changed].paragraphs
    # a client with only the URI (no seeds folder, no local index) reads the same corpus
    reader = milvus_bot(tmp_path / "nothing", tmp_path / "no-index", lite.uri, "changes", lazy=True)
    question = "Who was named harbour master of Ashdod?"
    assert reader.ask(question).to_dict() | {"timings_ms": 0} == remote.ask(question).to_dict() | {
        "timings_ms": 0
    }


@pytest.mark.parametrize("rebuild", [True, False], ids=["rebuild", "update"])
def test_a_killed_index_run_leaves_the_old_collection_answering(
    lite, seeds_copy: Path, tmp_path: Path, rebuild: bool
) -> None:
    name = f"killed_{rebuild}"
    index_dir = tmp_path / "index"
    remote = published(seeds_copy, index_dir, lite.uri, name)
    before = top(remote, GALLANT)
    (seeds_copy / "extra.txt").write_text(
        "Zorbal Quennick was named harbour master of Ashdod on Monday.\n", encoding="utf-8"
    )
    args = ["index", "--seeds", seeds_copy, "--index", index_dir]
    args += ["--backend", "milvus", "--milvus-uri", lite.uri]
    proc = spawn([*args, *(["--rebuild"] if rebuild else [])], tmp_path / "log",
                 QABOT_FAILPOINT="publishing", QABOT_MILVUS_COLLECTION=name)  # fmt: skip
    try:
        assert wait_stopped(proc), (tmp_path / "log").read_text(encoding="utf-8")
    finally:
        sigkill(proc)
    after = milvus_bot(seeds_copy, index_dir, lite.uri, name, lazy=True, publish=True)
    assert "extra.txt" not in after.index.manifest.files
    assert top(after, GALLANT) == before
    assert (top(after, "Who was named harbour master of Ashdod?") or ("",))[0] != "extra.txt"
    # the next run finishes the work and leaves no orphan generation
    after.refresh()
    assert top(after, "Who was named harbour master of Ashdod?")[0] == "extra.txt"
    client = after.index.client
    generations = [c for c in client.list_collections() if c.startswith(f"{name}_")]
    assert sorted(generations) == sorted([after.index.collection, f"{after.index.collection}_meta"])


def test_an_unreachable_uri_is_one_line(tmp_path: Path) -> None:
    from qabot.milvus.server import free_port

    proc = subprocess.run(
        [sys.executable, "-m", "qabot.cli", "ask", "Who?", "--seeds", str(SEEDS),
         "--index", str(tmp_path), "--backend", "milvus",
         "--milvus-uri", f"http://127.0.0.1:{free_port()}"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: cannot reach Milvus at http://127.0.0.1:")
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


def test_a_collection_of_another_model_is_refused(lite, tmp_path: Path) -> None:
    from qabot.milvus import store

    remote = published(SEEDS, tmp_path / "index", lite.uri, "othermodel")
    client, meta = remote.index.client, store.meta_name(remote.index.collection)
    head = store.read_head(client, meta)
    head.model = "someone/else-v2"
    store.write_head(client, meta, head)
    with pytest.raises(QabotError, match="built by someone/else-v2"):
        milvus_bot(SEEDS, tmp_path / "index", lite.uri, "othermodel", refresh=False)
    # indexing again rebuilds it for this model
    again = published(SEEDS, tmp_path / "index", lite.uri, "othermodel")
    assert again.index.collection != remote.index.collection


def test_lite_uri_starts_and_stops_milvus_lite(tmp_path: Path) -> None:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    shutil.copy(SEEDS / sorted(p.name for p in SEEDS.glob("*.txt"))[0], seeds)
    remote = QABot(seeds, tmp_path / "index", backend="milvus", milvus_uri=f"lite:{tmp_path}/m")
    assert remote._milvus is not None and remote._milvus.connection.server is not None
    server = remote._milvus.connection.server
    assert server.process.poll() is None and remote.summary().documents == 1
    assert listening_on(server.port) == {"127.0.0.1"}
    answer = top(remote, GALLANT)

    # another qabot on the same folder (Milvus Lite locks its data) is told the URI to use
    def ask(uri: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "qabot.cli", "ask", GALLANT, "--seeds", str(seeds), "--index",
             str(tmp_path / "index"), "--backend", "milvus", "--milvus-uri", uri],
            capture_output=True, text=True, timeout=600,
        )  # fmt: skip

    refused = ask(f"lite:{tmp_path}/m")
    assert refused.returncode == 1 and f"in use by process {server.process.pid}" in refused.stderr
    assert ask(server.uri).returncode == 0
    assert server.process.poll() is None
    remote.close()
    assert server.process.returncode == 0  # stopped cleanly by SIGINT, not killed
    with pytest.raises(ProcessLookupError):
        os.kill(server.process.pid, signal.SIGCONT)
    # started again on its data, it answers at once (the collections load again)
    again = QABot(seeds, tmp_path / "index", backend="milvus", milvus_uri=f"lite:{tmp_path}/m",
                  refresh=False)  # fmt: skip
    assert top(again, GALLANT) == answer
    again.close()


def test_a_file_that_changes_to_no_paragraphs_leaves_none(
    lite, seeds_copy: Path, tmp_path: Path
) -> None:
    remote = published(seeds_copy, tmp_path / "index", lite.uri, "emptied")
    name = sorted(remote.index.manifest.files)[0]
    (seeds_copy / name).write_text("Leave a Reply\n\nRelated Articles\n", encoding="utf-8")
    remote.refresh()
    assert remote.index.manifest.files[name].paragraphs == 0
    assert name not in remote.index.doc_paragraphs
    client, collection = remote.index.client, remote.index.collection
    assert client.query(collection, filter=f'doc == "{name}"', output_fields=["pid"]) == []
    assert all(e.doc != name for e in remote.retrieve(GALLANT))


def test_an_open_bot_follows_what_the_indexer_publishes(
    lite, seeds_copy: Path, tmp_path: Path
) -> None:
    """A chat left open (here: a bot that only asks) sees each update and each rebuild at its
    next question; asking never publishes, whatever its own seeds folder holds."""
    indexer = published(seeds_copy, tmp_path / "index", lite.uri, "follow")
    other_seeds = tmp_path / "other"
    other_seeds.mkdir()
    (other_seeds / "mine.txt").write_text("Nobody else has this file.\n", encoding="utf-8")
    asker = milvus_bot(other_seeds, tmp_path / "other-index", lite.uri, "follow")
    assert asker.report is None and "mine.txt" not in asker.index.manifest.files
    assert not asker.is_stale()
    with pytest.raises(QabotError, match="only asks Milvus"):
        asker.refresh()  # its own seeds would replace the corpus: refused
    assert "mine.txt" not in milvus_bot(other_seeds, tmp_path / "x", lite.uri, "follow",
                                        refresh=False).index.manifest.files  # fmt: skip
    question = "Who was named harbour master of Ashdod?"
    assert (top(asker, question) or ("",))[0] != "extra.txt"
    (seeds_copy / "extra.txt").write_text(
        "Zorbal Quennick was named harbour master of Ashdod on Monday.\n", encoding="utf-8"
    )
    indexer.refresh()
    assert top(asker, question)[0] == "extra.txt"
    indexer.rebuild()
    assert top(asker, question)[0] == "extra.txt"
    assert asker.index.collection == indexer.index.collection
    # a rebuild whose publisher died before dropping the old generation: still followed
    from qabot.milvus import publish

    old = asker.index.collection
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(publish, "_drop", lambda client, collection: None)
        indexer.rebuild()
    assert top(asker, question)[0] == "extra.txt" and asker.index.collection != old


def test_an_alias_that_cannot_be_read_is_an_error_not_an_empty_server(lite, tmp_path: Path) -> None:
    from pymilvus.exceptions import MilvusException

    remote = published(SEEDS, tmp_path / "index", lite.uri, "flaky")
    collection = remote.index.collection
    client = remote.index.client

    def down(*args, **kwargs):
        raise MilvusException(message="proxy timed out")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(type(client), "list_aliases", down)
        with pytest.raises(QabotError, match="proxy timed out"):
            remote.rebuild()
    assert client.has_collection(collection)  # nothing was dropped
    assert top(remote, GALLANT) is not None


def test_the_chat_takes_the_backend_before_its_command(lite, seeds_copy: Path) -> None:
    """``qabot --backend milvus --milvus-uri URI``: the chat on Milvus; a corpus Milvus does
    not hold yet is indexed and published at first use."""
    env = dict(os.environ, QABOT_MILVUS_COLLECTION="chat")
    proc = subprocess.run(
        [sys.executable, "-m", "qabot.cli", "--backend", "milvus", "--milvus-uri", lite.uri],
        input=GALLANT + "\n", capture_output=True, text=True, timeout=600,
        cwd=seeds_copy.parent, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "qabot: 5 documents" in proc.stdout and "Gallant" in proc.stdout
    from qabot.milvus import store
    from qabot.milvus.server import client

    assert store.alias_target(client(lite.uri), "chat")  # it was Milvus that answered
