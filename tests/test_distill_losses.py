"""Distillation losses against hand-computed values, padding included, and gradient flow."""

from __future__ import annotations

import math

import pytest
import torch

from workers.distill.losses import (
    Projections,
    attention_mse,
    intermediate_losses,
    masked_hidden_mse,
    regression_mse,
    soft_cross_entropy,
)


def test_attention_mse_counts_only_real_query_and_key_positions() -> None:
    x = 100.0  # lives on padded rows/columns: must not count
    teacher = torch.tensor([[[[1, 2, x], [3, 4, x], [x, x, x]], [[0, 0, x], [0, 2, x], [x, x, x]]]])
    student = torch.zeros_like(teacher)
    mask = torch.tensor([[1, 1, 0]])
    # real pairs: 2x2 per head, 2 heads -> (1+4+9+16 + 0+0+0+4) / 8
    assert attention_mse(student, teacher, mask).item() == pytest.approx(34 / 8)


def test_attention_mse_averages_over_examples_of_different_lengths() -> None:
    teacher = torch.ones(2, 1, 2, 2)
    mask = torch.tensor([[1, 1], [1, 0]])
    # 4 real pairs in the first example, 1 in the second, each with squared error 1
    assert attention_mse(torch.zeros_like(teacher), teacher, mask).item() == pytest.approx(1.0)


def test_hidden_mse_ignores_padded_tokens() -> None:
    teacher = torch.tensor([[[1.0, 1.0], [2.0, 0.0]], [[3.0, 1.0], [100.0, 100.0]]])
    mask = torch.tensor([[1, 1], [1, 0]])
    # real tokens (1,1), (2,0), (3,1): squares 2 + 4 + 10 over 3 tokens x 2 units
    assert masked_hidden_mse(torch.zeros_like(teacher), teacher, mask).item() == pytest.approx(16 / 6)


def test_soft_cross_entropy_hand_values_and_temperature() -> None:
    teacher = torch.tensor([[0.0, 0.0]])
    student = torch.tensor([[math.log(3.0), 0.0]])  # softmax = (0.75, 0.25)
    expected = -(0.5 * math.log(0.75) + 0.5 * math.log(0.25))
    assert soft_cross_entropy(student, teacher).item() == pytest.approx(expected)
    # at T=2 the student's logits are halved: doubling them gives the same value
    assert soft_cross_entropy(student * 2, teacher, temperature=2.0).item() == pytest.approx(expected)
    # averaged over the batch, summed over classes
    batch = soft_cross_entropy(torch.cat([student, student]), torch.cat([teacher, teacher]))
    assert batch.item() == pytest.approx(expected)


def test_regression_mse_against_teacher_prediction() -> None:
    assert regression_mse(torch.tensor([[1.0], [3.0]]), torch.tensor([[2.0], [1.0]])).item() == pytest.approx(2.5)


def _random_stage1(layers: int, shared: bool) -> tuple[Projections, dict[str, torch.Tensor]]:
    torch.manual_seed(0)
    b, length, hs, ht, heads = 2, 5, 8, 16, 2
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    proj = Projections(hs, ht, layers, shared=shared)
    s_hidden = [torch.randn(b, length, hs, requires_grad=True) for _ in range(layers + 1)]
    t_hidden = [torch.randn(b, length, ht) for _ in range(2 * layers + 1)]
    s_scores = [torch.randn(b, heads, length, length, requires_grad=True) for _ in range(layers)]
    t_scores = [torch.randn(b, heads, length, length) for _ in range(2 * layers)]
    layer_map = [2 * (m + 1) for m in range(layers)]
    return proj, intermediate_losses(s_hidden, t_hidden, s_scores, t_scores, layer_map, proj, mask)


@pytest.mark.parametrize("shared", [False, True])
def test_gradients_reach_every_projection(shared: bool) -> None:
    proj, parts = _random_stage1(3, shared)
    assert set(parts) == {"embedding", "attention", "hidden"}
    sum(parts.values()).backward()
    assert len(proj.maps) == (1 if shared else 4)
    for lin in proj.maps:
        assert lin.weight.grad is not None and lin.weight.grad.abs().sum() > 0
        assert lin.bias.grad is not None and lin.bias.grad.abs().sum() > 0


def test_projection_starts_as_identity_when_sizes_match() -> None:
    proj = Projections(8, 8, 2)
    x = torch.randn(3, 4, 8)
    assert torch.allclose(proj(x, 1), x)


def test_projections_saved_beside_a_student_start_a_later_run_only_when_they_fit(tmp_path) -> None:
    trained = Projections(8, 16, 2)
    with torch.no_grad():
        trained.maps[1].weight.fill_(0.5)
    trained.save_beside(tmp_path, [2, 4])
    fresh = Projections(8, 16, 2)
    assert fresh.load_beside(tmp_path, [2, 4]) == "distill_projections.pt of the student checkpoint"
    assert torch.equal(fresh.maps[1].weight, trained.maps[1].weight)
    other = Projections(8, 16, 2)
    assert other.load_beside(tmp_path, [3, 6]).startswith("random (") and not torch.equal(
        other.maps[1].weight, trained.maps[1].weight
    )
    assert Projections(8, 24, 2).load_beside(tmp_path, [2, 4]).startswith("random (")
    assert Projections(8, 16, 2).load_beside(None, [2, 4]) == "random"


@pytest.mark.parametrize("saved_shared", [False, True], ids=["per-layer-file", "shared-file"])
def test_projections_of_the_other_sharing_start_random_instead_of_failing(tmp_path, saved_shared: bool) -> None:
    Projections(8, 16, 2, shared=saved_shared).save_beside(tmp_path, [2, 4])
    other = Projections(8, 16, 2, shared=not saved_shared)
    assert other.load_beside(tmp_path, [2, 4]).startswith("random (")
    same = Projections(8, 16, 2, shared=saved_shared)
    assert same.load_beside(tmp_path, [2, 4]) == "distill_projections.pt of the student checkpoint"
