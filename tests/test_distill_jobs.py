"""Distillation jobs on a real Redis with real `distillery worker` subprocesses and tiny real models:
a distillation that starts while its augmentation still runs, cancel within a step, failure paths."""

from __future__ import annotations

import os
import re
import shutil
import signal
from pathlib import Path

import pytest

from tests.conftest import wait_until
from tests.distill_job_helpers import (
    TINY_STUDENT,
    events,
    get_job,
    rte_session,
    rte_teacher,
    run_one_job,
    upload_rte,
    wait_done,
    worker_env,
)
from tests.service_helpers import AUTH_A, make_client

pytestmark = pytest.mark.slow


@pytest.fixture
def teacher(tmp_path: Path) -> Path:
    return rte_teacher(tmp_path / "teacher")


def _dev_accuracy(model_dir: Path, dev: Path) -> float:
    """The saved student's accuracy on ``dev``, one row at a time (no padding), as a user would measure it."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from shared.tasks import get_task
    from workers.distill.data import ExampleEncoder

    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    rows = ExampleEncoder(AutoTokenizer.from_pretrained(model_dir), get_task("rte"), 48).encode_file(dev, True)
    with torch.no_grad():
        right = [
            model(input_ids=torch.tensor([e.input_ids]), token_type_ids=torch.tensor([e.token_type_ids]))
            .logits.argmax(-1)
            .item()
            == e.label
            for e in rows
        ]
    assert len(right) == 8
    return sum(right) / len(right)


def _distill_body(teacher: Path | str, train: dict, **extra) -> dict:
    return {
        "teacher": str(teacher),
        "train": train,
        "student": TINY_STUDENT,
        "stage1_epochs": 2,
        "stage2_epochs": 1,
        "batch_size": 4,
        "max_seq_len": 48,
        "allow_weak_teacher": True,  # a random teacher; the guard has its own test
        **extra,
    }


def test_distillation_starts_while_its_augmentation_runs(
    redis_url, tmp_path, synth_glue_dir, tiny_mlm_dir, teacher, start_workers
) -> None:
    data_dir = tmp_path / "data"
    with rte_session(redis_url, tmp_path, synth_glue_dir, 9) as (client, train, env):
        dev = upload_rte(client, synth_glue_dir, tmp_path, "dev", 8)
        aug = client.post(
            "/v1/augmentations",
            headers=AUTH_A,
            json={"dataset_id": train["id"], "n": 2, "k": 3, "mlm_model": str(tiny_mlm_dir), "shard_rows": 3},
        ).json()
        r = client.post(
            "/v1/distillations",
            headers=AUTH_A,
            json=_distill_body(teacher, {"augmentation_job_id": aug["id"]}, dev_dataset_id=dev["id"]),
        )
        assert r.status_code == 202, r.text
        job = r.json()
        assert job["type"] == "distillation" and job["params"]["lr1"] == 5e-5  # defaults resolved
        start_workers(1, env, queue="distill")

        # No augment worker yet: the distillation waits for the first shard, visibly.
        waiting = wait_until(
            lambda: (j := get_job(client, job["id"]))["progress"].get("stage") == "augment" and j,
            60,
            "the distillation to wait for shards",
        )
        assert waiting["status"] == "running" and waiting["progress"]["shards_total"] == 3
        run_one_job("augment", env)  # exactly one shard, by a real worker process
        wait_until(lambda: any(e["kind"] == "shards" for e in events(client, job["id"])), 60, "training to start")
        first = next(e for e in events(client, job["id"]) if e["kind"] == "shards")
        assert first["data"]["shards_read"] == 1 and first["data"]["shards_total"] == 3
        assert get_job(client, aug["id"])["status"] == "running"  # still augmenting

        start_workers(1, env, queue="augment")
        done = wait_done(client, job["id"], timeout=120)
        assert done["status"] == "succeeded", (done["error"], events(client, job["id"])[-6:])
        aug_done = get_job(client, aug["id"])
        assert done["result"]["train_rows"] == aug_done["result"]["rows_out"]  # the last epochs saw every shard
        reads = [e["data"]["shards_read"] for e in events(client, job["id"]) if e["kind"] == "shards"]
        assert reads[0] == 1 and reads[-1] == 3
        kinds = [e["kind"] for e in events(client, job["id"])]
        assert "evaluation" in kinds and kinds[-1] == "succeeded"
        # the reported dev accuracy is the downloaded student's own on the 8 dev rows, recomputed here
        assert done["result"]["student"]["dev"]["accuracy"] == pytest.approx(
            _dev_accuracy(data_dir / "jobs" / job["id"] / "model", tmp_path / "rte-dev-8.tsv")
        )
        assert done["result"]["precision"] == {"precision": "fp32", "reason": "fp32 asked for"}  # conftest pins it

        metrics = client.get(f"/v1/jobs/{job['id']}/metrics", headers=AUTH_A).json()["points"]
        stages = {p["stage"] for p in metrics}
        assert {"distill-intermediate", "distill-prediction", "evaluate"} <= stages
        assert all(
            set(p["losses"]) >= {"attention", "hidden", "embedding"}
            for p in metrics
            if p["stage"] == "distill-intermediate" and p["losses"]
        )
        assert client.get(f"/v1/jobs/{job['id']}/result", headers=AUTH_A).content[:2] == b"\x1f\x8b"  # gzip


def test_cancel_stops_a_running_distillation_within_a_step(
    redis_url, tmp_path, synth_glue_dir, teacher, start_workers
) -> None:
    # progress written after every step, so a frozen worker's last written step is where it stands; the
    # cancellation read before every step too (by default at most every cancel_check_s seconds)
    fast = {"DISTILLERY_PROGRESS_INTERVAL_S": "0", "DISTILLERY_CANCEL_CHECK_S": "0"}
    with rte_session(redis_url, tmp_path, synth_glue_dir, 16, **fast) as (client, train, env):
        body = _distill_body(teacher, {"dataset_id": train["id"]}, stage1_epochs=500)
        job = client.post("/v1/distillations", headers=AUTH_A, json=body).json()
        (worker,) = start_workers(1, env, queue="distill")
        wait_until(lambda: (get_job(client, job["id"])["progress"].get("step") or 0) >= 3, 60, "training steps")
        os.killpg(worker.pid, signal.SIGSTOP)  # briefly: well inside the 3 s heartbeat
        try:
            at_cancel = get_job(client, job["id"])["progress"]["step"]
            r = client.post(f"/v1/jobs/{job['id']}/cancel", headers=AUTH_A)
        finally:
            os.killpg(worker.pid, signal.SIGCONT)
        assert r.status_code == 202 and r.json()["status"] == "cancelled"
        stopped = wait_until(
            lambda: next((e for e in events(client, job["id"]) if e["kind"] == "stopped"), None), 30, "the stop"
        )
        # frozen between steps: it stops before the next one; frozen inside one: it finishes that one only
        step = int(re.search(r"at step (\d+)", stopped["message"]).group(1))  # type: ignore[index, union-attr]
        assert at_cancel <= step <= at_cancel + 1, (at_cancel, stopped)
        assert client.post(f"/v1/jobs/{job['id']}/cancel", headers=AUTH_A).json()["status"] == "cancelled"
        assert client.get(f"/v1/jobs/{job['id']}/result", headers=AUTH_A).status_code == 409
        # The worker is free again: a second job runs to the end.
        again = client.post(
            "/v1/distillations",
            headers=AUTH_A,
            json=_distill_body(teacher, {"dataset_id": train["id"]}, stage1_epochs=1, stage2_epochs=0),
        ).json()
        assert wait_done(client, again["id"], timeout=60)["status"] == "succeeded"


def _model_like(folder: Path) -> Path:
    """A folder that passes the submission's cheap checks (config.json, a tokenizer file) but does not load."""
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "vocab.txt").write_text("[PAD]\n")
    return folder


def test_missing_teacher_fails_with_an_error_object(redis_url, tmp_path, synth_glue_dir, start_workers) -> None:
    """Refused at submission (422); a teacher folder removed after submission fails the job on the worker."""
    data_dir = tmp_path / "data"
    with make_client(redis_url, data_dir) as client:
        train = upload_rte(client, synth_glue_dir, tmp_path, "train", 4)
        missing = tmp_path / "no-such-teacher"
        r = client.post("/v1/distillations", headers=AUTH_A, json=_distill_body(missing, {"dataset_id": train["id"]}))
        assert r.status_code == 422 and "'teacher'" in r.text and "does not exist" in r.text
        gone = _model_like(tmp_path / "removed-teacher")
        job = client.post(
            "/v1/distillations", headers=AUTH_A, json=_distill_body(gone, {"dataset_id": train["id"]})
        ).json()
        shutil.rmtree(gone)
        start_workers(1, worker_env(redis_url, data_dir), queue="distill")
        done = wait_done(client, job["id"], timeout=60)
        assert done["status"] == "failed"
        assert done["error"]["code"] == "invalid_input" and str(gone) in done["error"]["message"]
        assert "no such model folder" in done["error"]["message"]


def test_the_teacher_guard_fails_a_weak_teacher_and_warns_without_dev_set(
    redis_url, tmp_path, glue_dir, teacher, start_workers
) -> None:
    with rte_session(redis_url, tmp_path, glue_dir, 8) as (client, train, env):
        dev = upload_rte(client, glue_dir, tmp_path, "dev", 16)
        body = _distill_body(teacher, {"dataset_id": train["id"]}, stage1_epochs=1, stage2_epochs=0)
        body.pop("allow_weak_teacher")
        weak = client.post("/v1/distillations", headers=AUTH_A, json={**body, "dev_dataset_id": dev["id"]}).json()
        assert weak["params"]["allow_weak_teacher"] is False
        no_dev = client.post("/v1/distillations", headers=AUTH_A, json=body).json()
        start_workers(1, env, queue="distill")
        failed = wait_done(client, weak["id"], timeout=90)
        assert failed["status"] == "failed" and failed["error"]["code"] == "weak_teacher"
        teacher_dev = next(e for e in events(client, weak["id"]) if e["data"].get("teacher"))["data"]["metrics"]
        message = failed["error"]["message"]
        assert f"dev accuracy {teacher_dev['accuracy']:.4f}" in message and "majority-class baseline" in message
        assert "allow_weak_teacher: true" in message
        assert not any(e["kind"] == "stage" for e in events(client, weak["id"]))  # stopped before stage 1
        done = wait_done(client, no_dev["id"], timeout=90)
        assert done["status"] == "succeeded", done["error"]
        warnings = [e for e in events(client, no_dev["id"]) if e["kind"] == "warning"]
        assert len(warnings) == 1 and "teacher guard did not run" in warnings[0]["message"]


def test_failed_augmentation_fails_the_distillation_with_its_cause(
    redis_url, tmp_path, synth_glue_dir, teacher, start_workers
) -> None:
    broken = _model_like(tmp_path / "broken-mlm")
    with rte_session(redis_url, tmp_path, synth_glue_dir, 4) as (client, train, env):
        aug = client.post(
            "/v1/augmentations",
            headers=AUTH_A,
            json={"dataset_id": train["id"], "mlm_model": str(broken), "shard_rows": 2},
        ).json()
        job = client.post(
            "/v1/distillations", headers=AUTH_A, json=_distill_body(teacher, {"augmentation_job_id": aug["id"]})
        ).json()
        start_workers(1, env, queue="distill")
        start_workers(1, env, queue="augment")
        done = wait_done(client, job["id"], timeout=60)
        assert done["status"] == "failed" and done["error"]["code"] == "augmentation_failed"
        assert aug["id"] in done["error"]["message"] and "broken-mlm" in done["error"]["message"]


def test_bad_requests_answer_4xx_naming_the_field(redis_url, tmp_path, synth_glue_dir, teacher) -> None:
    with make_client(redis_url, tmp_path / "data") as client:
        train = upload_rte(client, synth_glue_dir, tmp_path, "train", 4)
        ok = _distill_body(teacher, {"dataset_id": train["id"]})
        cases = [
            ({**ok, "train": {"dataset_id": "ds_nope"}}, 404, "train.dataset_id"),
            ({**ok, "train": {"augmentation_job_id": "job_nope"}}, 404, "train.augmentation_job_id"),
            ({**ok, "teacher": {"job_id": "job_nope"}}, 404, "teacher.job_id"),
            ({**ok, "task": "nope"}, 422, "task"),
            ({**ok, "student": {"layers": 1, "hidden": 30, "heads": 4}}, 422, "student.hidden"),
            ({**ok, "stage1_epochs": -1}, 422, "stage1_epochs"),
            ({**ok, "bogus": 1}, 422, "bogus"),
        ]
        for body, code, field in cases:
            r = client.post("/v1/distillations", headers=AUTH_A, json=body)
            assert r.status_code == code, (body, r.text)
            assert field in r.text
        r = client.post("/v1/finetunes", headers=AUTH_A, json={"dataset_id": train["id"]})
        assert r.status_code == 422 and "model" in r.text
        assert client.post("/v1/distillations", json=ok).status_code == 401
