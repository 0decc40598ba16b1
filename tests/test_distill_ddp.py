"""Two gloo processes under torchrun (DDP) follow the loss curve of one process with the same global batch,
each training on its own half of every batch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, run_in_repo, service_env
from tests.distill_helpers import glue_sample, make_tiny_teacher, tiny_encoder

pytestmark = pytest.mark.slow


def _run(tmp: Path, name: str, teacher: Path, train: Path, processes: int) -> dict:
    out = tmp / name
    config = {
        "teacher": str(teacher),
        "train": str(train),
        "task": "sst-2",
        "output_dir": str(out),
        "student": {"layers": 1, "hidden": 32, "heads": 4, "intermediate": 64},
        "stage1_epochs": 2,
        "stage2_epochs": 2,
        "batch_size": 8,
        "log_every": 1,
        "checkpoint_every": 0,
        "device": "cpu",
        "seed": 5,
    }
    path = tmp / f"{name}.json"
    path.write_text(json.dumps(config))
    runner = str(REPO_ROOT / "tests" / "distill_ddp_runner.py")
    launcher = (
        [sys.executable, runner]
        if processes == 1
        else [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}", runner]
    )
    env = service_env("redis://unused", tmp)
    run_in_repo([*launcher, str(path)], env, 300, stderr=subprocess.PIPE)
    return json.loads((out / "report.json").read_text())


def test_two_gloo_processes_match_one_process_with_the_same_global_batch(tmp_path, synth_glue_dir) -> None:
    teacher = make_tiny_teacher(tmp_path / "teacher", task="sst-2", layers=2, hidden=64, heads=4)
    config = json.loads((teacher / "config.json").read_text())  # no dropout: the runs differ only by DDP
    config.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    (teacher / "config.json").write_text(json.dumps(config))
    train = glue_sample(synth_glue_dir, "SST-2", "train", 32, tmp_path / "train.tsv")

    one = _run(tmp_path, "one", teacher, train, 1)
    two = _run(tmp_path, "two", teacher, train, 2)
    assert one["processes"] == 1 and two["processes"] == 2
    worst = []
    for s1, s2 in zip(one["stages"], two["stages"], strict=True):
        assert s1["steps"] == s2["steps"] == 4 * 2
        for p1, p2 in zip(s1["loss_history"], s2["loss_history"], strict=True):
            assert p1["step"] == p2["step"]
            # per-rank token means averaged vs one global token mean: equal up to a small tolerance
            assert p2["total"] == pytest.approx(p1["total"], rel=0.01, abs=1e-5), (s1["name"], p1, p2)
        worst.append(
            max(abs(b["total"] - a["total"]) / abs(a["total"]) for a, b in zip(s1["loss_history"], s2["loss_history"]))
        )
    # the figure docs/pipelines.md quotes (`pytest -s tests/test_distill_ddp.py`)
    print(f"\nDDP vs one process, largest relative loss difference: stage 1 {worst[0]:.1e}, stage 2 {worst[1]:.1e}")
    # the two ranks split every global batch: no row trained on by both in one step, and together all rows
    rank0, rank1 = (json.loads((tmp_path / f"two-rows-rank{r}.json").read_text()) for r in (0, 1))
    assert len(rank0) == len(rank1) == 2 * 4 * 2  # both stages, 4 steps an epoch, 2 epochs each
    for step, (mine, theirs) in enumerate(zip(rank0, rank1, strict=True)):
        assert len(mine) == len(theirs) == 4, step  # half of the global batch of 8 each
        assert not {tuple(r) for r in mine} & {tuple(r) for r in theirs}, f"step {step}: a row on both ranks"
    single = json.loads((tmp_path / "one-rows-rank0.json").read_text())
    for step in range(4):  # one epoch: the ranks' halves are exactly the single process's batches
        assert sorted(rank0[step] + rank1[step]) == sorted(single[step]), step
    # and the curves really move: the last stage-1 loss is below the first
    first, last = one["stages"][0]["loss_history"][0], one["stages"][0]["loss_history"][-1]
    assert last["total"] < first["total"]


def test_general_distillation_trains_under_two_gloo_processes(tmp_path) -> None:
    """The general student's pooler feeds no loss; DDP must still see it in the graph (it failed on step 2)."""
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("a gorgeous , witty film\nthe plot is thin\nit never drags\nwhat a mess\n" * 4)
    out = tmp_path / "general"
    shape = ["--student-layers", "1", "--student-hidden", "32", "--student-heads", "4", "--student-intermediate", "64"]
    args = ["--teacher", str(tiny_encoder(tmp_path / "encoder")), "--corpus", str(corpus), "--output", str(out)]
    args += ["--epochs", "1", "--batch-size", "4", "--device", "cpu", "--student-init", "random", *shape]
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2"]
    env = service_env("redis://unused", tmp_path)
    run_in_repo([*launcher, "-m", "services.cli.main", "distill-general", *args], env, 300, stderr=subprocess.PIPE)
    report = json.loads((out / "report.json").read_text())
    assert report["processes"] == 2 and report["stages"][0]["steps"] == 4
