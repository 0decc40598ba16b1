"""Captured pre-softmax scores reproduce the model's own attention probabilities."""

from __future__ import annotations

import torch
from transformers import BertForSequenceClassification

from tests.distill_helpers import tiny_bert_config
from workers.distill.attention_capture import CAPTURE_IMPLEMENTATION, enable_capture, pop_scores, use_fast_attention


def _model() -> BertForSequenceClassification:
    torch.manual_seed(0)
    return BertForSequenceClassification(tiny_bert_config(32, 3, 4, vocab_size=200, max_positions=32)).eval()


def test_softmax_of_scores_plus_mask_equals_eager_attention() -> None:
    model = _model()
    ids = torch.randint(5, 200, (3, 9))
    mask = torch.ones(3, 9, dtype=torch.long)
    mask[1, 6:] = 0
    mask[2, 3:] = 0
    model.set_attn_implementation("eager")
    with torch.no_grad():
        eager = model(input_ids=ids, attention_mask=mask, output_attentions=True)
    enable_capture(model)
    assert model.config._attn_implementation == CAPTURE_IMPLEMENTATION
    with torch.no_grad():
        captured_out = model(input_ids=ids, attention_mask=mask)
    scores = pop_scores(model)
    assert len(scores) == 3 and scores[0].shape == (3, 4, 9, 9)
    additive = (1 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
    for layer, s in enumerate(scores):
        probs = torch.softmax(s + additive, dim=-1)
        assert torch.allclose(probs, eager.attentions[layer], atol=1e-6)
    # same outputs as eager and SDPA: capturing changes nothing about the model
    assert torch.allclose(captured_out.logits, eager.logits, atol=1e-5)
    use_fast_attention(model)
    with torch.no_grad():
        fast = model(input_ids=ids, attention_mask=mask)
    assert torch.allclose(fast.logits, eager.logits, atol=1e-5)
    assert pop_scores(model) == []  # nothing captured outside capture mode


def test_scores_carry_gradients_in_training() -> None:
    """The captured scores are the graph's own Q.K^T/sqrt(d): the same values and the same gradients as
    scores computed by hand from layer 0's query and key projections (dropout off, so the two agree)."""
    model = _model().train()
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    enable_capture(model)
    ids = torch.randint(5, 200, (2, 5))
    model(input_ids=ids)
    scores = pop_scores(model)
    attn = model.bert.encoder.layer[0].attention.self
    heads, width = 4, 32 // 4

    def split(x: torch.Tensor) -> torch.Tensor:
        return x.view(2, 5, heads, width).transpose(1, 2)

    hidden = model.bert.embeddings(input_ids=ids)
    by_hand = split(attn.query(hidden)) @ split(attn.key(hidden)).transpose(-1, -2) / width**0.5
    assert torch.allclose(scores[0], by_hand, atol=1e-5)
    (got,) = torch.autograd.grad(scores[0].sum(), attn.query.weight, retain_graph=True)
    (want,) = torch.autograd.grad(by_hand.sum(), attn.query.weight)
    assert want.abs().sum() > 0 and torch.allclose(got, want, atol=1e-5)
    # every layer's scores reach back to its own query weights; the last layer's values feed no score at all
    sum(s.sum() for s in scores).backward()
    for layer in model.bert.encoder.layer:
        assert layer.attention.self.query.weight.grad.abs().sum() > 0
    last_value = model.bert.encoder.layer[-1].attention.self.value.weight.grad
    assert last_value is None or not last_value.any()
    assert pop_scores(model) == []  # popped once, gone
