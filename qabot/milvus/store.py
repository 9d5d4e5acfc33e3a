"""What qabot keeps in Milvus, and how a client reads its description back.

A corpus is two collections of one *generation* (``qabot_<stamp>``), and an alias (``qabot``)
that names the generation clients read:

* ``qabot_<stamp>``: one row per paragraph and one per sentence of a paragraph that has
  more than one (a one-sentence paragraph's vector serves as its sentence's), each with its
  unit vector (``dense``) and its paragraph id (``pid``). A paragraph's row also holds the paragraph
  itself (``para``: document, number, exact offsets, text, sentence and entity offsets) and
  its BM25 term weights as a sparse vector (``sparse``). Dense search groups rows by ``pid``,
  so a paragraph scores its best of its own and its sentences' cosines, as the local index.
* ``qabot_<stamp>_meta``: JSON in chunks: ``head`` (format, model, the next paragraph id,
  the paragraph ids being retired), the manifest of source files, the IDF and spelling
  vocabulary of the corpus, each document's paragraph ids, and the text extracted from files
  that are not plain text. A client needs nothing else than the models and the URI.

Row ids are ``pid * ROW_STRIDE + (0 for the paragraph, k + 1 for its sentence k)``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from qabot.errors import QabotError
from qabot.index import storage
from qabot.records import Paragraph

FORMAT = 1
DEFAULT_NAME = "qabot"
ROW_STRIDE = 4096  # a paragraph is cut at 180 words: it never has this many sentences
CHUNK_CHARS = 16_000  # a VARCHAR holds 65,535 bytes; UTF-8 takes up to 4 a character
PLACEHOLDER = {0: 1e-30}  # sentence rows have no terms; Milvus wants a nonzero weight
TERM_SPACE = 2**32 - 1  # sparse dimensions are uint32; 0 is the placeholder's


def term_id(term: str) -> int:
    """A BM25 term's sparse dimension: a hash, the same in every process and every update
    (no vocabulary to keep in step). Collisions need ~65k terms to reach even odds of one,
    and one only adds two terms' weights in the paragraphs that hold both."""
    digest = hashlib.blake2b(term.encode("utf-8"), digest_size=4).digest()
    return int.from_bytes(digest, "little") % TERM_SPACE + 1


def alias_target(client: Any, name: str) -> str:
    """The collection alias ``name`` names; "" when there is no such alias. Any other failure
    (a server down, a timeout) raises: it must never read as "no corpus yet"."""
    if name not in client.list_aliases()["aliases"]:
        return ""
    return str(client.describe_alias(name)["collection_name"])


def aliased(client: Any, collection: str) -> bool:
    """Whether some alias names ``collection``."""
    return bool(client.list_aliases(collection_name=collection)["aliases"])


def loaded(client: Any, *collections: str) -> None:
    """Load ``collections`` unless they are: a restarted server (Milvus Lite always) holds
    them released, and a released collection answers no query or search."""
    from pymilvus.client.types import LoadState

    for c in collections:
        if client.get_load_state(c)["state"] != LoadState.Loaded:
            client.load_collection(c)


def generation_name(base: str, stamp: int) -> str:
    return f"{base}_{stamp}"


def meta_name(collection: str) -> str:
    return f"{collection}_meta"


@dataclass
class Head:
    """The generation's description: written last, so that it names only complete data."""

    format: int
    model: str
    dimension: int
    version: int  # each update writes its blobs under a new version, then the head
    next_pid: int  # rows with ids at or above it are an unfinished update's: never searched
    avgdl: float  # the BM25 average paragraph length the weights were computed with
    paragraphs: int
    retired: list[list[int]] = field(default_factory=list)  # [lo, hi) pid ranges being deleted
    blobs: dict[str, int] = field(default_factory=dict)  # blob name -> chunks
    nprobe: int = 0  # IVF cells a dense search visits; 0: the exact (FLAT) index

    def dense_params(self) -> dict[str, Any]:
        params: dict[str, Any] = {"metric_type": "IP"}
        if self.nprobe:
            params["params"] = {"nprobe": self.nprobe}
        return params

    def visible(self) -> str:
        """The filter that keeps searches to this head's paragraphs."""
        parts = [f"pid < {self.next_pid}"]
        parts += [f"(pid < {lo} or pid >= {hi})" for lo, hi in self.retired]
        return " and ".join(parts)


def dense_index(rows: int) -> tuple[str, dict[str, int], int]:
    """The dense index for ``rows`` vectors, chosen as the local index chooses (exact up to
    ``vectors.FLAT_MAX``, IVF-SQ8 above with the same cells and probes): its type, build
    parameters and ``nprobe`` (0 for exact)."""
    from qabot.search import vectors

    if rows <= vectors.FLAT_MAX:
        return "FLAT", {}, 0
    nlist = vectors.nlist_for(rows)
    return "IVF_SQ8", {"nlist": nlist}, min(vectors.NPROBE, nlist)


def paragraph_schema(client: Any, dimension: int, rows: int = 0) -> tuple[Any, Any]:
    """The schema of a generation's collection, and its indexes for about ``rows`` rows."""
    from pymilvus import DataType

    schema = client.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("pid", DataType.INT64)
    schema.add_field("k", DataType.INT32)  # -1: the paragraph's row; else its sentence k
    schema.add_field("doc", DataType.VARCHAR, max_length=4096)
    schema.add_field("dense", DataType.FLOAT_VECTOR, dim=dimension)
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_field("para", DataType.JSON)
    params = client.prepare_index_params()
    kind, build, _ = dense_index(rows)
    params.add_index(field_name="dense", index_type=kind, metric_type="IP", params=build)
    params.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="IP")
    params.add_index(field_name="pid", index_type="INVERTED")
    return schema, params


def meta_schema(client: Any) -> tuple[Any, Any]:
    from pymilvus import DataType

    schema = client.create_schema(auto_id=False)
    schema.add_field("key", DataType.VARCHAR, is_primary=True, max_length=512)
    schema.add_field("value", DataType.VARCHAR, max_length=65_535)
    schema.add_field("v", DataType.FLOAT_VECTOR, dim=2)  # Milvus wants a vector field
    params = client.prepare_index_params()
    params.add_index(field_name="v", index_type="FLAT", metric_type="L2")
    return schema, params


def write_blob(client: Any, meta: str, name: str, version: int, value: object) -> int:
    """``value`` as JSON in chunks under ``name/version/i``; returns how many."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    chunks = [text[i : i + CHUNK_CHARS] for i in range(0, len(text), CHUNK_CHARS)] or [""]
    rows = [
        {"key": f"{name}/{version}/{i}", "value": c, "v": [0.0, 0.0]} for i, c in enumerate(chunks)
    ]
    for lo in range(0, len(rows), 200):
        client.upsert(meta, rows[lo : lo + 200])
    return len(chunks)


def read_blob(client: Any, meta: str, name: str, version: int, chunks: int) -> Any:
    keys = [f"{name}/{version}/{i}" for i in range(chunks)]
    found: dict[str, str] = {}
    for lo in range(0, len(keys), 200):
        rows = client.get(meta, ids=keys[lo : lo + 200], output_fields=["value"])
        found.update({r["key"]: r["value"] for r in rows})
    if len(found) != len(keys):
        raise QabotError(
            f"the Milvus collection {meta} lacks part of {name}: run qabot index --rebuild"
        )
    return json.loads("".join(found[k] for k in keys))


def blob(client: Any, meta: str, head: Head, name: str) -> Any:
    """Blob ``name`` as ``head`` names it."""
    if name not in head.blobs:
        raise QabotError(f"the Milvus collection {meta} has no {name}: run qabot index --rebuild")
    return read_blob(client, meta, name, head.version, head.blobs[name])


def write_head(client: Any, meta: str, head: Head) -> None:
    client.upsert(meta, [{"key": "head", "value": json.dumps(asdict(head)), "v": [0.0, 0.0]}])
    client.flush(meta)


def read_head(client: Any, meta: str) -> Head:
    rows = client.get(meta, ids=["head"], output_fields=["value"])
    if not rows:
        raise QabotError(f"the Milvus collection {meta} has no head: run qabot index --rebuild")
    try:
        return Head(**json.loads(rows[0]["value"]))
    except (TypeError, ValueError) as exc:
        raise QabotError(f"the Milvus collection {meta} has an unreadable head: {exc}") from exc


def row(
    pid: int,
    k: int,
    doc: str,
    vector: Any,
    sparse: dict[int, float] | None = None,
    para: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A row of a generation: paragraph ``pid``'s own (``k`` = -1, with its BM25 weights and
    the paragraph) or its sentence ``k``'s."""
    return {
        "id": pid * ROW_STRIDE + k + 1,
        "pid": pid,
        "k": k,
        "doc": doc,
        "dense": np.asarray(vector, dtype=np.float32).tolist(),
        "sparse": sparse or dict(PLACEHOLDER),
        "para": para or {},
    }


def paragraph_json(p: Paragraph) -> dict[str, Any]:
    """A paragraph row's ``para``: its fields, and its spans as the local index keeps them."""
    sentences, entities = storage.paragraph_spans(p)
    return {"doc": p.doc, "number": p.number, "start": p.start, "end": p.end, "kind": p.kind,
            "text": p.text, "sentences": sentences, "entities": entities}  # fmt: skip


def paragraph_from_json(data: dict[str, Any]) -> Paragraph:
    return storage.paragraph_of(**data)
