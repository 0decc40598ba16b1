"""GLUE task presets: which columns hold the text and the label, the label set, and the metrics.

A misspelt task name is an error (the reference silently fell back to other settings).
"""

from __future__ import annotations

from dataclasses import dataclass, field


class UnknownTaskError(ValueError):
    """Raised for a task name that is not a known GLUE preset."""


@dataclass(frozen=True)
class TaskPreset:
    """How to read one GLUE task's files."""

    name: str
    text_columns: tuple[str, ...]
    label_column: str
    labels: tuple[str, ...] | None  # None: regression
    metrics: tuple[str, ...]
    #: Column names for files that have no header row (CoLA's train/dev files).
    headerless_columns: tuple[str, ...] | None = None
    aliases: tuple[str, ...] = field(default=())

    @property
    def is_regression(self) -> bool:
        return self.labels is None

    @property
    def num_labels(self) -> int:
        return 1 if self.labels is None else len(self.labels)

    @property
    def is_pair(self) -> bool:
        return len(self.text_columns) == 2


GLUE_TASKS: dict[str, TaskPreset] = {
    p.name: p
    for p in [
        TaskPreset("sst-2", ("sentence",), "label", ("0", "1"), ("accuracy",), aliases=("sst2",)),
        TaskPreset("mrpc", ("#1 String", "#2 String"), "Quality", ("0", "1"), ("f1", "accuracy")),
        TaskPreset("rte", ("sentence1", "sentence2"), "label", ("entailment", "not_entailment"), ("accuracy",)),
        TaskPreset("sts-b", ("sentence1", "sentence2"), "score", None, ("pearson", "spearman"), aliases=("stsb",)),
        TaskPreset(
            "cola",
            ("sentence",),
            "label",
            ("0", "1"),
            ("matthews",),
            headerless_columns=("source", "label", "label_notes", "sentence"),
        ),
        TaskPreset("qqp", ("question1", "question2"), "is_duplicate", ("0", "1"), ("f1", "accuracy")),
        TaskPreset("qnli", ("question", "sentence"), "label", ("entailment", "not_entailment"), ("accuracy",)),
        TaskPreset(
            "mnli",
            ("sentence1", "sentence2"),
            "gold_label",
            ("contradiction", "entailment", "neutral"),
            ("accuracy",),
        ),
    ]
}


def _normalise(name: str) -> str:
    return name.strip().lower().replace("-", "").replace("_", "")


def get_task(name: str) -> TaskPreset:
    """Look up a preset by name ('SST-2', 'sst2' and 'sst_2' are all SST-2); unknown names raise."""
    key = _normalise(name)
    for preset in GLUE_TASKS.values():
        if key == _normalise(preset.name) or key in (_normalise(a) for a in preset.aliases):
            return preset
    known = ", ".join(GLUE_TASKS)
    raise UnknownTaskError(f"unknown task {name!r}; known tasks: {known}")
