"""The quality bench's cpu-base profile (a BERT-base-sized MPNet teacher) at smoke scale: profile smoke-base
makes the same choices on a tiny random MPNet given with --base-model; and bench/base_teacher.py's refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.quality.students import VARIANTS
from tests.conftest import GLUE_DIR, skip_without
from tests.quality_helpers import run_driver


@pytest.fixture(scope="module")
def tiny_mpnet_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random MPNet encoder (4 layers, hidden 48, 12 heads) with the bert-base-uncased tokenizer: it stands
    in for all-mpnet-base-v2, the base-sized teacher of profile cpu-base."""
    import transformers

    from bench.quality.common import minilm_path

    folder = tmp_path_factory.mktemp("tiny-mpnet")
    tokenizer = transformers.AutoTokenizer.from_pretrained(minilm_path())
    config = transformers.MPNetConfig(
        vocab_size=len(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        hidden_size=48,
        num_hidden_layers=4,
        num_attention_heads=12,
        intermediate_size=96,
    )
    transformers.set_seed(0)
    transformers.MPNetModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_base_profile_runs_its_own_choices_on_an_mpnet_teacher(
    tmp_path: Path, tiny_mpnet_dir: Path, tiny_mlm_dir: Path
) -> None:
    """cpu-base's design at smoke scale: an MPNet teacher, general distillation from it into BERT students,
    SST-2 only, only those students, the deployed forms of TinyBERT4 from general distillation, a 7x target."""
    from bench.quality.profiles import CPU_BASE, SMOKE_BASE

    skip_without(GLUE_DIR, "../shared/data/glue")
    results, cache = tmp_path / "results", tmp_path / "cache"
    run_driver(tiny_mpnet_dir, tiny_mlm_dir, results, cache, profile="smoke-base")

    assert not (results / "students_mrpc.json").exists()
    data = json.loads((results / "students_sst-2.json").read_text())
    chosen = SMOKE_BASE.students or ()
    assert set(chosen) <= set(CPU_BASE.students or ()) and set(data["students"]) == set(chosen)
    assert set(data["cells"]) == {f"{s}/{v}" for s in chosen for v in VARIANTS}
    general = json.loads((results / "general.json").read_text())
    assert {run["teacher"] for run in general["runs"].values()} == {tiny_mpnet_dir.name}
    for name in chosen:  # each student starts from its general distillation of the MPNet
        config = json.loads((Path(data["cells"][f"{name}/distill"]["model"]) / "config.json").read_text())
        assert config["model_type"] == "bert" and config["vocab_size"] == 30522
    deploy = json.loads((results / "deploy_sst-2.json").read_text())
    assert "tinybert4-gd__" in deploy["args"]["student"]
    assert {(r["model"], r["form"]) for r in deploy["results"]} >= {("teacher", "ONNX int8 (dynamic)")}
    summary = (results / "summary.md").read_text()
    assert ">= 97% of the teacher's accuracy while >= 7x faster on CPU at batch 32" in summary


def test_an_unknown_base_teacher_is_refused_by_name() -> None:
    from bench.base_teacher import ensure

    with pytest.raises(SystemExit, match="unknown base teacher 'bert-large'.*all-mpnet-base-v2"):
        ensure("bert-large")


def test_the_pretrained_minilm_student_keeps_four_of_its_layers() -> None:
    """cpu-base's third student starts from the pre-trained MiniLM-L6, not from a general distillation (the
    engine's fitting of it to an MPNet tokenizer: tests/test_distill_checkpoint_adapt.py)."""
    from bench.quality.common import minilm_path
    from bench.quality.profiles import CPU_BASE
    from bench.quality.students import student_label, student_spec

    assert "minilm4-pre" in (CPU_BASE.students or ())
    spec = student_spec(CPU_BASE, "minilm4-pre")
    assert (spec.checkpoint, spec.checkpoint_layers, spec.layers) == (minilm_path(), 4, 4)
    assert student_label(CPU_BASE, "minilm4-pre").startswith("4 of the pre-trained MiniLM-L6's layers")


def test_the_gpu_profile_keeps_the_cpu_recipe_and_finds_rows_made_on_a_cpu(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """gpu-base-16k-pred-e4-minilm6 changes where it trains, not what: its augmented rows are made beforehand on a
    CPU in fp32, and a GPU machine without the MiniLM package names the carried folder in $QUALITY_MINILM_DIR."""
    from dataclasses import asdict

    from bench.quality.common import minilm_path
    from bench.quality.profiles import CPU_BASE_16K_PRED_E4_MINILM6, GPU_BASE_16K_PRED_E4_MINILM6

    gpu, cpu = asdict(GPU_BASE_16K_PRED_E4_MINILM6), asdict(CPU_BASE_16K_PRED_E4_MINILM6)
    changed = {key for key in cpu if gpu[key] != cpu[key]}
    assert changed == {"name", "device", "threads", "augment_precision", "latency_repeats_b1", "latency_repeats_b32"}
    assert gpu["augment_precision"] == "fp32" and gpu["device"] == "cuda"
    monkeypatch.setenv("QUALITY_MINILM_DIR", str(tmp_path))
    assert minilm_path() == str(tmp_path)
