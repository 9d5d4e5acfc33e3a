"""qabot on Milvus: the retrieval backend past one machine (docs/SCALING.md).

The local index (faiss and BM25 files) is the default and needs nothing started. With
``--backend milvus --milvus-uri URI`` the corpus lives in Milvus: indexing updates the local
index as the embedding cache and publishes it there (``publish``), and asking reads only
Milvus (``corpus``). ``server`` reaches the URI, or starts Milvus Lite for ``lite:DIR``.
"""

from __future__ import annotations

import atexit
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from qabot.errors import QabotError
from qabot.milvus.server import Connection

if TYPE_CHECKING:
    from qabot.index.model import CorpusIndex
    from qabot.milvus.corpus import MilvusCorpus
    from qabot.milvus.publish import PublishReport
    from qabot.records import Progress

BACKENDS = ("local", "milvus")
URI_ENV = "QABOT_MILVUS_URI"
COLLECTION_ENV = "QABOT_MILVUS_COLLECTION"  # the alias clients read: several corpora, one cluster
T = TypeVar("T")


class MilvusBackend:
    """One Milvus URI and the qabot corpus there: alias ``name``, else $QABOT_MILVUS_COLLECTION,
    else ``qabot``."""

    def __init__(self, uri: str | None, name: str | None = None) -> None:
        from qabot.milvus.server import LITE_PREFIX

        uri = uri or os.environ.get(URI_ENV, "")
        if not uri:
            raise QabotError("the milvus backend needs --milvus-uri URI (or $QABOT_MILVUS_URI)")
        self.uri = uri
        self.name = name or os.environ.get(COLLECTION_ENV) or "qabot"
        self.lite_dir = Path(uri[len(LITE_PREFIX) :]) if uri.startswith(LITE_PREFIX) else None
        self.connection = Connection(uri)
        atexit.register(self.close)  # a Lite server never outlives qabot

    @property
    def client(self) -> object:
        return self.connection.client

    def open(self) -> MilvusCorpus:
        from qabot.milvus.corpus import MilvusCorpus

        return guard(lambda: MilvusCorpus.open(self.client, self.name, self.uri), self.uri)

    def publish(
        self, index: CorpusIndex, *, rebuild: bool = False, progress: Progress | None = None
    ) -> PublishReport:
        from qabot.milvus.publish import publish

        return guard(
            lambda: publish(self.client, index, self.name, rebuild=rebuild, progress=progress),
            self.uri,
        )

    def close(self) -> None:
        self.connection.close()


def guard(call: Callable[[], T], uri: str) -> T:
    """``call()``, with Milvus's failures (a server gone mid-way, a refused request) as
    one-line QabotErrors."""
    from pymilvus.exceptions import MilvusException

    try:
        return call()
    except MilvusException as exc:
        text = " ".join(str(getattr(exc, "message", "") or exc).split())[:200]
        raise QabotError(f"Milvus at {uri} failed: {text}") from exc
