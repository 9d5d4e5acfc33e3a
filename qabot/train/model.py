"""The reader as a torch module for training: the packaged all-MiniLM-L6-v2 encoder with a
start/end head on every token.

The word and position embeddings stay as packaged (frozen): they are two thirds of the
weights, so what qabot ships is only what training changed (``trainable_state``), and
``qabot.answer.reader`` puts the two back together.
"""

from __future__ import annotations

from typing import Any

FROZEN = ("embeddings.word_embeddings.weight", "embeddings.position_embeddings.weight")
HEAD = "qa_outputs"


def base_model() -> Any:
    """The packaged BertModel (no pooler: the reader reads every token)."""
    import transformers
    from transformers import BertModel

    from qabot.ingest.embedding import model_path, offline

    offline()
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    return BertModel.from_pretrained(str(model_path()), add_pooling_layer=False)


def build(seed: int) -> Any:
    """A fresh reader: the packaged encoder and a head initialised from ``seed``."""
    import torch

    class SpanReader(torch.nn.Module):
        def __init__(self, bert: Any) -> None:
            super().__init__()
            self.bert = bert
            self.qa_outputs = torch.nn.Linear(bert.config.hidden_size, 2)

        def forward(self, ids: Any, type_ids: Any, mask: Any) -> tuple[Any, Any]:
            hidden = self.bert(
                input_ids=ids, token_type_ids=type_ids, attention_mask=mask
            ).last_hidden_state
            logits = self.qa_outputs(hidden)
            return logits[..., 0], logits[..., 1]

    torch.manual_seed(seed)
    model = SpanReader(base_model())
    torch.nn.init.normal_(model.qa_outputs.weight, std=0.02)
    torch.nn.init.zeros_(model.qa_outputs.bias)
    for name, param in model.bert.named_parameters():
        param.requires_grad_(name not in FROZEN)
    return model


def trainable_state(model: Any) -> dict[str, Any]:
    """The weights training changes, under the names BertModel and the head use."""
    out = {}
    for name, param in model.bert.named_parameters():
        if name not in FROZEN:
            out[name] = param.detach()
    out[f"{HEAD}.weight"] = model.qa_outputs.weight.detach()
    out[f"{HEAD}.bias"] = model.qa_outputs.bias.detach()
    return out


def load_trainable(model: Any, state: dict[str, Any]) -> None:
    import torch

    params = dict(model.bert.named_parameters())
    with torch.no_grad():
        for name, value in state.items():
            if name.startswith(f"{HEAD}."):
                getattr(model.qa_outputs, name.split(".", 1)[1]).copy_(value)
            else:
                params[name].copy_(value)
