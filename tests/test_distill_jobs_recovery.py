"""A worker killed with SIGKILL mid-job: its job is retried within seconds by another worker, and a
distillation resumes from its last checkpoint (not from zero); an augmentation shard is redone. Each recovered
result is compared with an uninterrupted run: the student's weights exactly, the augmented file byte for byte.
A distillation whose packing failed after training keeps its checkpoint, and its retry trains no step again."""

from __future__ import annotations

import os
import signal

import pytest
import torch
from fastapi.testclient import TestClient
from safetensors.torch import load_file

from services.cli.main import main as cli_main
from tests.conftest import wait_until
from tests.distill_job_helpers import (
    TINY_STUDENT,
    events,
    get_job,
    rte_session,
    rte_teacher,
    run_one_job,
    wait_done,
)
from tests.service_helpers import AUTH_A

pytestmark = pytest.mark.slow


def _sigkill(proc) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(10)


def _student_weights(data_dir, job_id: str) -> dict[str, torch.Tensor]:
    return load_file(data_dir / "jobs" / job_id / "model" / "model.safetensors")


def _assert_same_weights(got: dict[str, torch.Tensor], want: dict[str, torch.Tensor]) -> None:
    """Exactly equal: one torch thread (service_env), the same seed, and the checkpoint holds the optimizer,
    the RNG states and the data order, so a resumed run repeats the uninterrupted one bit for bit."""
    assert got.keys() == want.keys()
    differ = [name for name in want if not torch.equal(got[name], want[name])]
    assert not differ, f"{len(differ)} tensors differ from the uninterrupted run, e.g. {differ[:3]}"


def test_sigkilled_distill_worker_is_replaced_and_the_job_resumes_from_its_checkpoint(
    redis_url, tmp_path, synth_glue_dir, start_workers
) -> None:
    teacher = rte_teacher(tmp_path / "teacher")
    data_dir = tmp_path / "data"
    with rte_session(redis_url, tmp_path, synth_glue_dir, 24) as (client, train, env):
        body = {
            "teacher": str(teacher),
            "train": {"dataset_id": train["id"]},
            "student": TINY_STUDENT,
            "stage1_epochs": 8,
            "stage2_epochs": 1,
            "batch_size": 4,
            "max_seq_len": 48,
            "checkpoint_every": 3,
            "seed": 11,
        }
        job = client.post("/v1/distillations", headers=AUTH_A, json=body).json()
        (first,) = start_workers(1, env, queue="distill")
        wait_until(
            lambda: (get_job(client, job["id"])["progress"].get("step") or 0) >= 8, 90, "steps past a checkpoint"
        )
        _sigkill(first)
        assert get_job(client, job["id"])["status"] == "running"  # nobody knows yet

        start_workers(1, env, queue="distill")  # the replacement (`distillery up` restarts a dead worker)
        done = wait_done(client, job["id"], timeout=120)
        assert done["status"] == "succeeded", (done["error"], events(client, job["id"])[-8:])
        evs = events(client, job["id"])
        kinds = [e["kind"] for e in evs]
        assert "retried" in kinds and "resuming" in kinds
        resumed = next(e for e in evs if e["kind"] == "resumed")
        # a checkpoint taken before the kill: a multiple of checkpoint_every inside stage 1. (The polled progress
        # is written every few seconds, so it can lag the last checkpoint and is no upper bound.)
        step = resumed["data"]["step"]
        assert 0 < step < 8 * 6 and step % 3 == 0 and resumed["data"]["stage"] == "distill-intermediate"
        assert kinds.index("retried") < kinds.index("resumed")
        # after the resume, steps continue from the checkpoint: the first point after it is past it
        metrics = client.get(
            f"/v1/jobs/{job['id']}/metrics", headers=AUTH_A, params={"stage": "distill-intermediate"}
        ).json()["points"]
        assert metrics[-1]["step"] == metrics[-1]["total_steps"] == 8 * 6
        assert not (data_dir / "jobs" / job["id"] / "checkpoint.pt").exists()  # removed once finished

        # the same job never interrupted, on the surviving worker: the very same weights
        reference = client.post("/v1/distillations", headers=AUTH_A, json=body).json()
        assert wait_done(client, reference["id"], timeout=120)["status"] == "succeeded"
        _assert_same_weights(_student_weights(data_dir, job["id"]), _student_weights(data_dir, reference["id"]))


def _training_points(client: TestClient, job_id: str) -> list[dict]:
    points = client.get(f"/v1/jobs/{job_id}/metrics", headers=AUTH_A).json()["points"]
    return [p for p in points if p["stage"].startswith("distill-")]


def test_a_distillation_whose_packing_failed_is_retried_without_training_again(
    redis_url, tmp_path, synth_glue_dir
) -> None:
    """Training (and the ONNX export) finished, then packing failed: a folder stands where ``model.tar.gz`` goes.
    The checkpoint stays until the job has succeeded, so the retry resumes after the last stage: no new step."""
    teacher = rte_teacher(tmp_path / "teacher")
    with rte_session(redis_url, tmp_path, synth_glue_dir, 16) as (client, train, env):
        body = {
            "teacher": str(teacher),
            "train": {"dataset_id": train["id"]},
            "student": TINY_STUDENT,
            "stage1_epochs": 2,
            "stage2_epochs": 1,
            "batch_size": 4,
            "max_seq_len": 48,
            "allow_weak_teacher": True,
        }
        job = client.post("/v1/distillations", headers=AUTH_A, json=body).json()
        job_dir = tmp_path / "data" / "jobs" / job["id"]
        obstacle = job_dir / "model.tar.gz"
        obstacle.mkdir(parents=True)
        run_one_job("distill", env)  # a real worker: trains, exports, fails to pack, exits; RQ queues the retry
        assert get_job(client, job["id"])["status"] == "running"
        assert "retried" in [e["kind"] for e in events(client, job["id"])] and (job_dir / "checkpoint.pt").exists()
        trained = _training_points(client, job["id"])
        assert trained[-1]["step"] == trained[-1]["total_steps"] == 4  # stage 2 ran to its end: 16 rows / 4

        obstacle.rmdir()
        run_one_job("distill", env)
        done = get_job(client, job["id"])
        assert done["status"] == "succeeded", (done["error"], events(client, job["id"])[-8:])
        assert _training_points(client, job["id"]) == trained  # the retry trained no step
        resumed = [e for e in events(client, job["id"]) if e["kind"] == "resumed"]
        assert len(resumed) == 1 and "training had finished" in resumed[0]["message"]
        assert "error" not in done["result"]["exports"]  # exported again from the saved student
        assert not (job_dir / "checkpoint.pt").exists()  # deleted once the job succeeded
        assert client.get(f"/v1/jobs/{job['id']}/result", headers=AUTH_A).content[:2] == b"\x1f\x8b"  # gzip


def test_sigkilled_augment_worker_shard_is_redone(
    redis_url, tmp_path, synth_glue_dir, tiny_mlm_dir, start_workers
) -> None:
    with rte_session(redis_url, tmp_path, synth_glue_dir, 40, DISTILLERY_AUG_CHUNK_ROWS="1") as (client, train, env):
        params = {"n": 20, "k": 10, "p": 0.4, "seed": 3}
        aug = client.post(
            "/v1/augmentations",
            headers=AUTH_A,
            json={"dataset_id": train["id"], "mlm_model": str(tiny_mlm_dir), "shard_rows": 40, **params},
        ).json()
        (first,) = start_workers(1, env, queue="augment")
        wait_until(lambda: get_job(client, aug["id"])["progress"]["done"] >= 1, 90, "the shard to start")
        _sigkill(first)
        assert get_job(client, aug["id"])["progress"]["shards_done"] == 0
        start_workers(1, env, queue="augment")
        done = wait_done(client, aug["id"], timeout=120)
        assert done["status"] == "succeeded", done["error"]
        assert done["progress"]["done"] == 40  # the retry's count replaced the dead attempt's
        assert "retried" in [e["kind"] for e in events(client, aug["id"])]
        redone = client.get(f"/v1/jobs/{aug['id']}/result", headers=AUTH_A).content

    # an uninterrupted run of the same file and parameters (the CLI, byte-identical to the service by
    # test_service_augment_jobs): the redone shard left no trace in the merged output
    unkilled = tmp_path / "unkilled.tsv"
    flags = [f"--{name}={value}" for name, value in params.items()]
    source = tmp_path / "rte-train-40.tsv"
    args = ["augment", "--task", "rte", "--input", str(source), "--output", str(unkilled), *flags]
    assert cli_main([*args, "--mlm-model", str(tiny_mlm_dir)]) == 0
    assert redone == unkilled.read_bytes()


def test_sigkilled_pipeline_keeps_its_finished_teacher_and_resumes_the_student(
    redis_url, tmp_path, synth_glue_dir, tiny_mlm_dir, start_workers
) -> None:
    from tests.distill_job_helpers import tiny_encoder

    with rte_session(redis_url, tmp_path, synth_glue_dir, 16) as (client, train, env):
        pipe = client.post(
            "/v1/pipelines",
            headers=AUTH_A,
            json={
                "dataset_id": train["id"],
                "base_model": str(tiny_encoder(tmp_path / "encoder")),
                "finetune": {"epochs": 1, "batch_size": 8, "max_seq_len": 48},
                "augment": {"n": 1, "k": 2, "mlm_model": str(tiny_mlm_dir), "shard_rows": 8},
                "distill": {
                    "student": TINY_STUDENT,
                    "stage1_epochs": 6,
                    "stage2_epochs": 1,
                    "batch_size": 4,
                    "max_seq_len": 48,
                    "checkpoint_every": 3,
                },
            },
        ).json()
        children = pipe["params"]["children"]
        (first,) = start_workers(1, env, queue="distill")
        start_workers(1, env, queue="augment")
        wait_until(
            lambda: (
                (p := get_job(client, children["distillation"])["progress"]).get("stage") == "distill-intermediate"
                and p.get("step", 0) >= 4
            ),
            90,
            "the student to train past a checkpoint",
        )
        _sigkill(first)
        start_workers(1, env, queue="distill")
        done = wait_done(client, pipe["id"], timeout=120)
        assert done["status"] == "succeeded", (done["error"], events(client, pipe["id"])[-8:])
        assert "retried" in [e["kind"] for e in events(client, pipe["id"])]
        teacher_kinds = [e["kind"] for e in events(client, children["finetune"])]
        assert teacher_kinds.count("started") == 1 and "restarted" not in teacher_kinds  # not trained twice
        student_events = events(client, children["distillation"])
        assert any(e["kind"] == "resumed" and e["data"]["step"] > 0 for e in student_events)
