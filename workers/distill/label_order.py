"""A model's label names against a task's: which output gives each of the task's labels (no torch here).

Shared by the teacher's loading (``models.align_label_order``) and the deploy commands (``deploy/task_fit.py``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

#: Names that say nothing about a class ("LABEL_0", "0"): the model's order is taken as the task's.
GENERIC_LABEL = re.compile(r"(label_?)?-?\d+", re.IGNORECASE)


class LabelMismatch(ValueError):
    """The model names label words that are not the task's."""


def label_key(name: Any) -> str:
    """A label name compared case- and punctuation-blind ("NOT_ENTAILMENT" = "not-entailment")."""
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


def is_generic(names: Sequence[str]) -> bool:
    return all(GENERIC_LABEL.fullmatch(str(n).strip()) for n in names)


def task_label_order(names: Sequence[str], task_labels: Sequence[str]) -> list[int] | None:
    """``order`` with task label i = the model's output ``order[i]``; None when the names already follow the task
    or say nothing (generic or numeric names, or a task whose labels are numbers). LabelMismatch when the
    model's label words are not the task's."""
    theirs, ours = [label_key(n) for n in names], [label_key(n) for n in task_labels]
    if theirs == ours or is_generic(names) or is_generic(task_labels):
        return None
    if sorted(theirs) != sorted(ours) or len(set(ours)) != len(ours):
        raise LabelMismatch(f"labels {list(names)} are not the task's {list(task_labels)}")
    return [theirs.index(key) for key in ours]
