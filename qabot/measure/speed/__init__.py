"""``qabot bench``: qabot's speed beside its baselines, as ratios measured in one run.

Shared machines are noisy, so every figure is taken side by side in the same process and
reported with its baseline: numpy brute force and faiss ``IndexFlatIP`` beside qabot's vector
index (with recall@10 against exact search), the memory-bandwidth floor of a full scan,
rank-bm25's ``get_scores`` beside qabot's sparse BM25 (and the largest score difference),
sentence-transformers beside qabot's encoder, warm ``ask`` on the seeds and a cold
``qabot ask`` process, and ``qabot index`` on real articles beside the encoder alone.

Large corpora are synthetic but derived from real data (``corpora``; see
``docs/PERFORMANCE.md``):

* **vectors**: real all-MiniLM-L6-v2 embeddings of sentences from SQuAD v1.1 dev and BEIR
  SciFact (the benchmark data folder, ``qabot.measure.locations``) are the seeds; each
  synthetic vector mixes one real vector with a share of a second, adds Gaussian noise shaped
  like the real vectors' covariance, and is normalised. Queries are real embeddings of SQuAD
  questions, searched as they are.
* **paragraphs** (BM25): lengths drawn from the real paragraphs' lengths, terms drawn from the
  real term frequencies (qabot's own tokeniser over the same texts); queries are the terms of
  real SQuAD questions.

Real embeddings are computed once and cached (``~/.cache/qabot/bench``, ``.npy``).

Modules: ``corpora`` (real and synthetic data), ``timing`` (clocks, memory, sizes),
``search`` (vectors, BM25, the hybrid core), ``encoding`` (encoder throughput), ``indexing``
(a real corpus indexed end to end), ``asking``
(``ask`` on the seeds and on synthetic indexes, the chat's first paint), ``ask_probe`` and
``paint_probe`` (the programs those run in fresh processes), ``table`` (rows as Markdown),
``runner`` (every suite in one run).
"""
