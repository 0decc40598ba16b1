"""docs/deploy.md's snippet runs against a fresh export with only onnxruntime, tokenizers and numpy."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from tests.deploy_helpers import tiny_export
from workers.deploy.inference import softmax
from workers.deploy.inputs import numpy_batch, text_examples
from workers.deploy.loading import load_model

DOC = Path(__file__).resolve().parents[1] / "docs" / "deploy.md"


def snippet() -> str:
    """The python block right after the <!-- deploy-snippet --> marker."""
    match = re.search(r"<!-- deploy-snippet -->\s*```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert match, "docs/deploy.md lost its deploy snippet"
    return match.group(1)


def test_snippet_runs_in_an_isolated_interpreter_and_agrees_with_the_project(tmp_path: Path, glue_dir: Path) -> None:
    made = tiny_export(tmp_path / "work", glue_dir, rows=8)
    shutil.copytree(made["export"], tmp_path / "student-onnx")
    (tmp_path / "snippet.py").write_text(snippet())
    done = subprocess.run(
        [sys.executable, "-I", "snippet.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )  # -I: no PYTHONPATH, no current folder on sys.path, so no project code can be imported
    assert done.returncode == 0, done.stderr
    printed = [line.split(" ", 2) for line in done.stdout.strip().splitlines()]
    texts = [t for _, _, t in printed]
    assert len(texts) == 2

    model = load_model(made["export"] / "model-int8.onnx")
    probs = softmax(model.predictor.logits(numpy_batch(text_examples(model.tokenizer, texts, 64), 0)))
    assert [label for label, _, _ in printed] == [model.labels[int(p.argmax())] for p in probs]
    assert np.allclose([float(p) for _, p, _ in printed], probs.max(axis=1), atol=2e-3)
