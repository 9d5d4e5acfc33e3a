"""qabot on Milvus: the retrieval backend past one machine (docs/SCALING.md).

The local index (faiss and BM25 files) is the default and needs nothing started. With
``--backend milvus --milvus-uri URI`` the corpus lives in Milvus: indexing updates the local
index as the embedding cache and publishes it there (``publish``), and asking reads only
Milvus (``corpus``). ``server`` reaches the URI, or starts Milvus Lite for ``lite:DIR``.

Only a backend made with ``publish=True`` publishes (``qabot index``, ``qabot eval
--benchmark`` under its own alias), besides the first use of a corpus that Milvus does not
hold yet: a chat or ``qabot ask``, whose seeds folder may hold other files, never overwrites
what the indexer published.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from qabot.errors import QabotError
from qabot.milvus.server import Connection

if TYPE_CHECKING:
    from qabot.index.model import CorpusIndex, IndexReport
    from qabot.milvus.corpus import MilvusCorpus, MilvusRetriever
    from qabot.milvus.publish import PublishReport
    from qabot.records import Progress

BACKENDS = ("local", "milvus")
URI_ENV = "QABOT_MILVUS_URI"
COLLECTION_ENV = "QABOT_MILVUS_COLLECTION"  # the alias clients read: several corpora, one cluster
T = TypeVar("T")
PENDING_REBUILD = ".milvus-rebuild"  # in the local index folder: a rebuild to publish


class MilvusBackend:
    """One Milvus URI and the qabot corpus there: alias ``name``, else $QABOT_MILVUS_COLLECTION,
    else ``qabot``."""

    def __init__(self, uri: str | None, name: str | None = None, publish: bool = False) -> None:
        uri = uri or os.environ.get(URI_ENV, "")
        if not uri:
            raise QabotError("the milvus backend needs --milvus-uri URI (or $QABOT_MILVUS_URI)")
        self.uri = uri
        self.name = name or os.environ.get(COLLECTION_ENV) or "qabot"
        self.publishes = publish
        self.connection = Connection.open(uri)
        self.closed = False
        self.last: PublishReport | None = None  # what the last publish did

    @property
    def client(self) -> object:
        return self.connection.client

    def open(self) -> MilvusCorpus:
        from qabot.milvus.corpus import MilvusCorpus

        return guard(lambda: MilvusCorpus.open(self.client, self.name, self.uri), self.uri)

    def retriever(self, corpus: CorpusIndex) -> MilvusRetriever:
        """Retrieval in Milvus over ``corpus``, which must be one ``open`` returned."""
        from qabot.milvus.corpus import MilvusCorpus, MilvusRetriever

        if not isinstance(corpus, MilvusCorpus):
            raise QabotError("the milvus backend answers from Milvus, not a local index")
        return MilvusRetriever(corpus)

    def holds_corpus(self) -> bool:
        """Whether Milvus has this corpus's alias (published before)."""
        from qabot.milvus.store import alias_target

        return bool(guard(lambda: alias_target(self.client, self.name), self.uri))

    def moved(self, corpus: CorpusIndex) -> bool:
        """Whether a publish replaced what ``corpus`` was opened on (one head read)."""
        from qabot.milvus.corpus import MilvusCorpus

        return isinstance(corpus, MilvusCorpus) and guard(corpus.outdated, self.uri)

    def open_index(
        self, seeds_dir: Path, index_dir: Path, progress: Progress | None
    ) -> tuple[MilvusCorpus, IndexReport | None]:
        """The corpus Milvus holds; indexed and published first only when it holds none."""
        if self.holds_corpus() or not seeds_dir.is_dir():
            return self.open(), None
        report = self.update(seeds_dir, index_dir, rebuild=False, progress=progress)
        return self.open(), report

    def update(
        self, seeds_dir: Path, index_dir: Path, *, rebuild: bool, progress: Progress | None
    ) -> IndexReport:
        """Update the local index from the seeds, then publish it: a new generation when it
        was rebuilt (its paragraphs may differ even where the files did not)."""
        from qabot.index.build import update_index

        if not self.publishes and self.holds_corpus():
            raise QabotError(
                "this qabot only asks Milvus; publish the seeds with qabot index --backend milvus"
            )
        report = update_index(seeds_dir, index_dir, rebuild=rebuild, progress=progress)
        self.publish(index_dir, rebuild=rebuild or bool(report.rebuilt_reason), progress=progress)
        return report

    def publish(
        self, index_dir: Path, *, rebuild: bool = False, progress: Progress | None = None
    ) -> PublishReport:
        """Publish the local index at ``index_dir``, holding its lock: one publish at a time
        from this machine."""
        from qabot.index.generations import index_lock
        from qabot.index.load import load_index
        from qabot.milvus.publish import publish

        # a local rebuild not yet published (Milvus was down) is published as a rebuild
        pending = index_dir / PENDING_REBUILD
        with index_lock(index_dir):
            if rebuild:
                pending.touch()
            index = load_index(index_dir)
            self.last = guard(
                lambda: publish(
                    self.client, index, self.name, rebuild=pending.exists(), progress=progress
                ),
                self.uri,
            )
            pending.unlink(missing_ok=True)
        return self.last

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.connection.close()


def backend_named(
    kind: str | MilvusBackend, uri: str | None, publish: bool
) -> MilvusBackend | None:
    """The Milvus backend at ``uri`` for ``milvus`` (or the one given); None for ``local``."""
    if isinstance(kind, MilvusBackend):
        return kind
    if kind not in BACKENDS:
        raise QabotError(f"the backend is local or milvus, not {kind!r}")
    return MilvusBackend(uri, publish=publish) if kind == "milvus" else None


def guard(call: Callable[[], T], uri: str) -> T:
    """``call()``, with Milvus's failures (a server gone mid-way, a refused request) as
    one-line QabotErrors."""
    from pymilvus.exceptions import MilvusException

    try:
        return call()
    except MilvusException as exc:
        text = " ".join(str(getattr(exc, "message", "") or exc).split())[:200]
        raise QabotError(f"Milvus at {uri} failed: {text}") from exc
