"""TinyBERT's distillation losses, with padding handled properly.

Each function takes the 2D attention mask (1 = real token) so that padded positions never count:
the reference counts padded query rows in the attention loss; we count only real (query, key) pairs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from workers.distill.errors import DistillError


@dataclass
class LossWeights:
    """Per-loss weights (the paper uses 1 for all)."""

    embedding: float = 1.0
    attention: float = 1.0
    hidden: float = 1.0
    prediction: float = 1.0


def masked_hidden_mse(student: torch.Tensor, teacher: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error over real tokens and hidden units: [B, L, D] vs [B, L, D], mask [B, L]."""
    m = mask.to(student.dtype).unsqueeze(-1)
    squared = (student.float() - teacher.float()) ** 2 * m.float()
    return squared.sum() / (m.float().sum() * student.size(-1)).clamp_min(1.0)


def attention_mse(student: torch.Tensor, teacher: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """MSE of pre-softmax scores [B, H, L, L] over real query AND key positions, averaged over heads."""
    m = mask.float()
    pair = (m[:, :, None] * m[:, None, :]).unsqueeze(1)  # [B, 1, L, L]
    squared = (student.float() - teacher.float()) ** 2 * pair
    return squared.sum() / (pair.sum() * student.size(1)).clamp_min(1.0)


def soft_cross_entropy(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float = 1.0
) -> torch.Tensor:
    """Cross-entropy of the student against the teacher's softened distribution, summed over classes,
    averaged over the batch (the reference also averages over classes, which just rescales by 1/C)."""
    t = F.softmax(teacher_logits.float() / temperature, dim=-1)
    log_s = F.log_softmax(student_logits.float() / temperature, dim=-1)
    return -(t * log_s).sum(dim=-1).mean()


def regression_mse(student_pred: torch.Tensor, teacher_pred: torch.Tensor) -> torch.Tensor:
    """Stage-2 loss for a regression task (STS-B): MSE against the teacher's prediction."""
    return F.mse_loss(student_pred.float().view(-1), teacher_pred.float().view(-1))


class Projections(nn.Module):
    """Learned maps W_e, W_h from the student's hidden size to the teacher's.

    One for the embedding output plus one per mapped layer, or a single one shared by all (``shared``,
    the reference's choice). When the sizes match they start as the identity, so a teacher-initialised
    student begins with zero hidden loss on its copied layers.
    """

    def __init__(self, student_hidden: int, teacher_hidden: int, num_layers: int, shared: bool = False) -> None:
        super().__init__()
        count = 1 if shared else num_layers + 1
        self.shared = shared
        linears = [nn.Linear(student_hidden, teacher_hidden) for _ in range(count)]
        if student_hidden == teacher_hidden:
            for lin in linears:
                nn.init.eye_(lin.weight)
                nn.init.zeros_(lin.bias)
        self.maps = nn.ModuleList(linears)

    def forward(self, hidden: torch.Tensor, index: int) -> torch.Tensor:
        """Project the student's hidden states number ``index`` (0 = embedding output)."""
        return self.maps[0 if self.shared else index](hidden)

    def save_beside(self, folder: str | Path, layer_map: list[int]) -> None:
        """Save the learned maps in a student folder (``PROJECTIONS_FILE``), so that a task distillation
        starting from that student can start its maps from them instead of from random."""
        torch.save({"layer_map": layer_map, "state": self.state_dict()}, Path(folder) / PROJECTIONS_FILE)

    def load_beside(self, folder: str | Path | None, layer_map: list[int]) -> str:
        """Start from the maps saved in a student folder when they fit (same sizes, same layer map); says
        where the maps start, for the report."""
        path = Path(folder) / PROJECTIONS_FILE if folder else None
        if path is None or not path.is_file():
            return "random"
        saved = torch.load(path, map_location="cpu", weights_only=True)
        own, theirs = self.state_dict(), saved.get("state") or {}
        fits = (
            saved.get("layer_map") == layer_map
            and theirs.keys() == own.keys()  # a shared map does not fit per-layer maps, nor they it
            and all(theirs[k].shape == v.shape for k, v in own.items())
        )
        if not fits:
            return f"random ({PROJECTIONS_FILE} in the student checkpoint is for another layer map, size or sharing)"
        self.load_state_dict(saved["state"])
        return f"{PROJECTIONS_FILE} of the student checkpoint"


#: The learned projections a general distillation leaves beside its student (``Projections.save_beside``).
PROJECTIONS_FILE = "distill_projections.pt"


def _mapped_scores(scores: list[torch.Tensor | None], layers: list[int], whose: str) -> list[torch.Tensor]:
    """The scores of ``layers`` (0-based); a clear error instead of an IndexError when capture missed one."""
    picked = [scores[i] if i < len(scores) else None for i in layers]
    missing = [i + 1 for i, s in zip(layers, picked, strict=True) if s is None]
    if missing:
        raise DistillError(
            f"no attention scores were captured for {whose} layer(s) {missing} ({len(scores)} captured); "
            "this model's attention cannot be distilled"
        )
    return picked  # type: ignore[return-value]


def intermediate_losses(
    student_hidden: list[torch.Tensor],
    teacher_hidden: list[torch.Tensor],
    student_scores: list[torch.Tensor | None],
    teacher_scores: list[torch.Tensor | None],
    layer_map: list[int],
    projections: Projections,
    mask: torch.Tensor,
) -> dict[str, torch.Tensor]:
    """Stage-1 losses. ``*_hidden`` hold the embedding output at 0 then each layer; ``*_scores`` each layer.

    Student layer m (1-based) learns from teacher layer layer_map[m-1]; attention and hidden losses are summed
    over mapped layers, as in the paper and the reference. A teacher layer that is not mapped may have no scores.
    """
    s_scores = _mapped_scores(student_scores, list(range(len(layer_map))), "student")
    t_scores = _mapped_scores(teacher_scores, [t - 1 for t in layer_map], "teacher")
    embedding = masked_hidden_mse(projections(student_hidden[0], 0), teacher_hidden[0], mask)
    attention = torch.stack([attention_mse(s, t, mask) for s, t in zip(s_scores, t_scores, strict=True)]).sum()
    hidden = torch.stack(
        [
            masked_hidden_mse(projections(student_hidden[m + 1], m + 1), teacher_hidden[t], mask)
            for m, t in enumerate(layer_map)
        ]
    ).sum()
    return {"embedding": embedding, "attention": attention, "hidden": hidden}
