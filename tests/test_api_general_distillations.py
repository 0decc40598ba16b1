"""POST /v1/general-distillations on a real Redis with a real worker subprocess and tiny real models: a .txt
corpus upload -> a general-distillation job -> a distillation whose student starts from it ({job_id}); and
the request checks (4xx naming the field)."""

from __future__ import annotations

import pytest

from tests.distill_job_helpers import (
    TINY_STUDENT,
    events,
    rte_teacher,
    tiny_encoder,
    upload_rte,
    wait_done,
    worker_env,
)
from tests.service_helpers import AUTH_A, AUTH_B, make_client, upload

pytestmark = pytest.mark.slow

CORPUS = "a gorgeous , witty film\nthe plot is thin\n\nit never drags , and it never quite lands\n" * 6


def test_a_general_distillation_job_starts_a_distillation(redis_url, tmp_path, glue_dir, start_workers) -> None:
    data_dir = tmp_path / "data"
    with make_client(redis_url, data_dir) as client:
        corpus = upload(client, "corpus.txt", CORPUS.encode())
        assert corpus.status_code == 201, corpus.text
        assert corpus.json()["format"] == "text" and corpus.json()["rows"] == 18
        body = {
            "teacher": str(tiny_encoder(tmp_path / "encoder")),
            "corpus_dataset_ids": [corpus.json()["id"]],
            "student": TINY_STUDENT,
            "epochs": 2,
            "batch_size": 8,
            "checkpoint_every": 2,
        }
        r = client.post("/v1/general-distillations", headers=AUTH_A, json=body)
        assert r.status_code == 202, r.text
        job = r.json()
        assert job["type"] == "general-distillation" and r.headers["location"] == f"/v1/jobs/{job['id']}"
        assert job["params"]["lr"] == 1e-4 and job["params"]["student"]["hidden"] == 32  # defaults resolved
        assert job["params"]["student"]["init"] == "auto"  # the setting's default: pruned for this BERT teacher
        start_workers(1, worker_env(redis_url, data_dir), queue="distill")
        done = wait_done(client, job["id"], timeout=120)
        assert done["status"] == "succeeded", (done["error"], events(client, job["id"])[-6:])
        assert done["result"]["corpus"]["passages"] == 18 and done["result"]["student"]["hidden"] == 32
        assert done["result"]["student"]["init"]["used"] == "pruned"
        assert "general-distill" in {e["data"].get("stage") for e in events(client, job["id"]) if e["kind"] == "stage"}
        metrics = client.get(f"/v1/jobs/{job['id']}/metrics", headers=AUTH_A).json()["points"]
        assert any({"embedding", "attention", "hidden"} <= set(p["losses"]) for p in metrics)
        assert client.get(f"/v1/jobs/{job['id']}/result", headers=AUTH_A).content[:2] == b"\x1f\x8b"

        train = upload_rte(client, glue_dir, tmp_path, "train", 8)
        distill = {
            "teacher": str(rte_teacher(tmp_path / "teacher")),
            "train": {"dataset_id": train["id"]},
            "student": {"job_id": job["id"]},
            "stage1_epochs": 1,
            "stage2_epochs": 1,
            "batch_size": 4,
            "max_seq_len": 48,
        }
        d = client.post("/v1/distillations", headers=AUTH_A, json=distill)
        assert d.status_code == 202, d.text
        assert d.json()["params"]["student"] == {"job_id": job["id"]}
        student = wait_done(client, d.json()["id"], timeout=120)
        assert student["status"] == "succeeded", student["error"]
        assert student["result"]["student"]["hidden"] == 32 and student["result"]["student"]["layers"] == 1
        for ref in ("job_nope", train["id"], d.json()["id"]):  # unknown, not a job, not a general distillation
            r = client.post("/v1/distillations", headers=AUTH_A, json={**distill, "student": {"job_id": ref}})
            assert r.status_code == 404 and "student.job_id" in r.text, r.text
        assert client.post("/v1/distillations", headers=AUTH_B, json=distill).status_code == 404  # another team


def test_bad_requests_answer_4xx_naming_the_field(redis_url, tmp_path) -> None:
    with make_client(redis_url, tmp_path / "data") as client:
        corpus = upload(client, "corpus.txt", CORPUS.encode()).json()
        teacher = str(tiny_encoder(tmp_path / "encoder"))  # under the test model roots
        ok = {"teacher": teacher, "corpus_dataset_ids": [corpus["id"]], "student": TINY_STUDENT}
        cases = [
            ({**ok, "teacher": "/root"}, 422, "teacher"),  # outside the model roots
            ({**ok, "teacher": "some/encoder"}, 422, "hub"),  # a hub id while the hub is off
            ({**ok, "corpus_dataset_ids": [corpus["id"], "ds_nope"]}, 404, "corpus_dataset_ids[1]"),
            ({**ok, "corpus_dataset_ids": []}, 422, "corpus_dataset_ids"),
            ({**ok, "student": {"hidden": 30, "heads": 4}}, 422, "student.hidden"),
            ({**ok, "student": {"checkpoint": "x"}}, 422, "student"),
            ({**ok, "student": {**TINY_STUDENT, "init": "teacher"}}, 422, '"student","init"'),
            ({**ok, "epochs": 0}, 422, "epochs"),
            ({**ok, "teacher": " "}, 422, "teacher"),
        ]
        for body, code, field in cases:
            r = client.post("/v1/general-distillations", headers=AUTH_A, json=body)
            assert r.status_code == code, (body, r.text)
            assert field in r.text
        assert client.post("/v1/general-distillations", json=ok).status_code == 401
        statuses = client.get("/openapi.json").json()["paths"]["/v1/general-distillations"]["post"]["responses"]
        assert {"202", "401", "404", "422", "503"} <= set(statuses)
