"""The shipped reader, as qabot runs it (CTranslate2, no torch), on the real seeds."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest

from qabot.answer.reader import Reader, load_settings, shipped_reader
from qabot.answer.reader_inputs import WindowConfig, WindowMaker, decode

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def reader() -> Reader:
    return shipped_reader()


def test_spans_are_exact_slices_of_the_passages(reader: Reader, bot) -> None:
    paragraphs = [p.text for p in list(bot.index.paragraphs)[:12]]
    reading = reader.read("Who is Israel's defense minister?", paragraphs)
    assert reading.spans
    for s in reading.spans[:20]:
        text = paragraphs[s.passage][s.start : s.end]
        assert text and text == text.strip()
    # one normalisation over every span and no-answer: probabilities add up to at most one
    total = math.exp(reading.null_logp) + sum(math.exp(s.logp) for s in reading.spans)
    assert total <= 1.0 + 1e-4


def test_scores_do_not_depend_on_the_order_of_the_passages(reader: Reader, bot) -> None:
    paragraphs = [p.text for p in list(bot.index.paragraphs)[:6]]
    question = "How much humanitarian aid has the US pledged to Gaza?"
    a = reader.read(question, paragraphs)
    b = reader.read(question, paragraphs[::-1])
    assert a.null_logp == pytest.approx(b.null_logp, abs=1e-3)
    best_a, best_b = a.spans[0], b.spans[0]
    assert (
        paragraphs[best_a.passage][best_a.start : best_a.end]
        == (paragraphs[::-1][best_b.passage][best_b.start : best_b.end])
    )


def test_the_shipped_weights_run_without_torch(reader: Reader) -> None:
    """Once converted (the fixture did), reading needs neither torch nor transformers."""
    import subprocess

    code = (
        "import sys; from qabot.answer.reader import shipped_reader; "
        "r = shipped_reader(); r.read('Who met Lloyd Austin?', ['Yoav Gallant met Lloyd Austin.']); "
        "print('torch' in sys.modules or 'transformers' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_int8_reader_agrees_with_the_trained_weights(reader: Reader, bot) -> None:
    """CTranslate2 int8 against the float16 weights run by torch: nearly the same logits."""
    torch = pytest.importorskip("torch")
    from safetensors.torch import load_file

    from qabot.answer.reader import WEIGHTS, shipped_folder
    from qabot.train.heldout import torch_logits
    from qabot.train.model import build, load_trainable

    model = build(0)
    load_trainable(model, {k: v.float() for k, v in load_file(shipped_folder() / WEIGHTS).items()})
    model.eval()
    paragraphs = [p.text for p in list(bot.index.paragraphs)[:4]]
    windows = reader.maker.windows("Who did Gallant meet at the Pentagon?", paragraphs)
    s1, e1 = reader.logits(windows)
    with torch.no_grad():
        s2, e2 = torch_logits(model, windows)
    for k, w in enumerate(windows):
        n = len(w.ids)
        assert np.corrcoef(s1[k, :n], s2[k, :n])[0, 1] > 0.98
        assert np.corrcoef(e1[k, :n], e2[k, :n])[0, 1] > 0.98


def test_the_settings_say_what_the_reader_was_calibrated_for() -> None:
    settings = load_settings()
    assert settings["passages"] >= 1
    assert WindowConfig(**settings["window"]).max_tokens <= 512
    assert set(settings["thresholds"]) == {"abstain_margin", "conflict_logp"}


def test_decoding_normalises_over_all_windows() -> None:
    """Scores from two windows are normalised together: the same logits in a second window
    halve each start's and each end's probability, so a span's by four."""
    maker = WindowMaker()
    windows = maker.windows("Who?", ["Alice met Bob.", "Alice met Bob."])
    width = max(len(w.ids) for w in windows)
    start = np.full((2, width), -1e4, dtype=np.float32)
    end = start.copy()
    for k, w in enumerate(windows):
        start[k, : len(w.ids)] = 0.0
        end[k, : len(w.ids)] = 0.0
        start[k, w.first] = 5.0  # "alice"
        end[k, w.first] = 5.0
    one = decode(windows[:1], start[:1], end[:1], maker.config)
    two = decode(windows, start, end, maker.config)
    assert two.spans[0].logp == pytest.approx(one.spans[0].logp - 2 * math.log(2), abs=1e-4)
    assert two.null_logp == pytest.approx(one.null_logp, abs=1e-4)
