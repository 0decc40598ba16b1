"""Distillation results with ONNX exports, and POST /v1/jobs/{id}/predictions, on a real Redis with real
`distill` worker processes and tiny real models."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from shared.dataset_io import parse_table
from tests.distill_job_helpers import TINY_STUDENT, get_job, rte_session, rte_teacher, run_one_job, upload_rte
from tests.service_helpers import AUTH_A, AUTH_B, upload

pytestmark = pytest.mark.slow


def _distill(client, teacher: Path, train: dict, dev: dict, **extra) -> dict:
    body = {
        "teacher": str(teacher),
        "train": {"dataset_id": train["id"]},
        "dev_dataset_id": dev["id"],
        "student": TINY_STUDENT,
        "stage1_epochs": 1,
        "stage2_epochs": 1,
        "batch_size": 4,
        "max_seq_len": 48,
        "allow_weak_teacher": True,  # a random tiny teacher: the guard would stop it (tested elsewhere)
        **extra,
    }
    r = client.post("/v1/distillations", headers=AUTH_A, json=body)
    assert r.status_code == 202, r.text
    return r.json()


def _predict(client, job_id: str, headers=AUTH_A, **body):
    return client.post(f"/v1/jobs/{job_id}/predictions", headers=headers, json=body)


def test_exports_in_the_result_and_predictions_of_the_int8_student(redis_url, tmp_path, glue_dir) -> None:
    data_dir = tmp_path / "data"
    with rte_session(redis_url, tmp_path, glue_dir, 8) as (client, train, env):
        dev = upload_rte(client, glue_dir, tmp_path, "dev", 10)
        job = _distill(client, rte_teacher(tmp_path / "teacher"), train, dev)
        assert _predict(client, job["id"], dataset_id=dev["id"]).status_code == 409  # still queued
        run_one_job("distill", env)
        done = get_job(client, job["id"])
        assert done["status"] == "succeeded", done["error"]

        exports = done["result"]["exports"]
        assert set(exports["files"]) == {"model.onnx", "model-int8.onnx"}
        student_dev = done["result"]["student"]["dev"]["accuracy"]
        assert exports["files"]["model.onnx"]["dev"]["accuracy"] == pytest.approx(student_dev, abs=1e-6)
        assert exports["files"]["model-int8.onnx"]["bytes"] < exports["files"]["model.onnx"]["bytes"]
        report = json.loads((data_dir / done["result"]["model_dir"] / "report.json").read_text())
        assert report["exports"] == exports
        tar_bytes = client.get(f"/v1/jobs/{job['id']}/result", headers=AUTH_A).content
        with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tar:
            names = tar.getnames()
        assert {"model/config.json", "onnx/model.onnx", "onnx/model-int8.onnx", "onnx/export.json"} <= set(names)

        r = _predict(client, job["id"], dataset_id=dev["id"], form="onnx-int8")
        assert r.status_code == 202, r.text
        assert r.headers["Location"] == f"/v1/jobs/{r.json()['id']}" and r.json()["type"] == "prediction"
        run_one_job("distill", env)
        pred = get_job(client, r.json()["id"])
        assert pred["status"] == "succeeded", pred["error"]
        assert pred["result"]["runtime"] == "onnx" and pred["progress"]["done"] == 10
        out = parse_table(client.get(f"/v1/jobs/{pred['id']}/result", headers=AUTH_A).content, "tsv")
        assert out.columns[-3:] == ["prediction", "prob_entailment", "prob_not_entailment"]
        assert len(out.rows) == 10 and all(row[-3] in ("entailment", "not_entailment") for row in out.rows)


def test_export_false_skips_exports_and_refusals_answer_4xx(redis_url, tmp_path, glue_dir) -> None:
    data_dir = tmp_path / "data"
    with rte_session(redis_url, tmp_path, glue_dir, 8) as (client, train, env):
        dev = upload_rte(client, glue_dir, tmp_path, "dev", 6)
        job = _distill(client, rte_teacher(tmp_path / "teacher"), train, dev, export=False)
        assert job["params"]["export"] is False
        run_one_job("distill", env)
        done = get_job(client, job["id"])
        assert done["status"] == "succeeded" and "exports" not in done["result"]
        assert not (data_dir / "jobs" / job["id"] / "onnx").exists()

        r = _predict(client, job["id"], dataset_id=dev["id"], form="onnx")
        assert r.status_code == 422 and "field 'form'" in r.json()["detail"][0]["msg"]  # FastAPI's list shape
        one_column = upload(client, "one.tsv", (tmp_path / "rte-dev-6.tsv").read_bytes(), text_columns="sentence1")
        r = _predict(client, job["id"], dataset_id=one_column.json()["id"])  # an RTE (pair) model on one column
        assert r.status_code == 422 and "field 'dataset_id'" in r.json()["detail"][0]["msg"], r.text
        assert "task rte reads 2" in r.json()["detail"][0]["msg"]
        other_team = upload(client, "b.tsv", (tmp_path / "rte-dev-6.tsv").read_bytes(), headers=AUTH_B, task="rte")
        r = _predict(client, job["id"], dataset_id=other_team.json()["id"])
        assert r.status_code == 404 and "dataset_id" in r.json()["detail"]
        assert _predict(client, job["id"], headers=AUTH_B, dataset_id=other_team.json()["id"]).status_code == 404
        assert _predict(client, train["id"], dataset_id=dev["id"]).status_code == 404  # a dataset id, not a job
        r = _predict(client, job["id"], dataset_id=dev["id"], form="tensorrt")
        assert r.status_code == 422 and isinstance(r.json()["detail"], list)

        r = _predict(client, job["id"], dataset_id=dev["id"])  # the PyTorch student
        assert r.status_code == 202, r.text
        run_one_job("distill", env)
        pred = get_job(client, r.json()["id"])
        assert pred["status"] == "succeeded" and pred["result"]["runtime"] == "pytorch", pred["error"]
        assert pred["params"]["max_seq_len"] == 48 == pred["result"]["max_seq_len"]  # the distillation's length
        assert 0 <= pred["result"]["truncated_rows"] <= 6


def test_a_cancelled_prediction_stops_at_its_next_check(redis_url) -> None:
    import redis

    from shared.job_store import JobStore
    from workers.deploy.prediction_jobs import _progress
    from workers.distill.errors import TrainingCancelled

    store = JobStore(redis.Redis.from_url(redis_url))
    job_id = store.create(job_type="prediction", team="team-a", params={}, total=20)
    every_batch, throttled = _progress(store, job_id, check_every_s=0), _progress(store, job_id, check_every_s=60)
    every_batch(4)
    throttled(4)  # the first call asks Redis; the next ones only after 60 s
    assert store.get(job_id)["progress"]["done"] == 8
    store.cancel(job_id)
    throttled(4)  # no Redis read inside the interval: it goes on
    with pytest.raises(TrainingCancelled, match="'predict' after step 16"):
        every_batch(4)
