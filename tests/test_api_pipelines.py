"""POST /v1/pipelines end to end on a real Redis with real worker subprocesses and tiny real models:
RTE sample upload -> fine-tune -> augment -> distil -> a downloaded student that plain transformers loads;
plus the request checks (4xx naming the field) and cancelling a pipeline with its children."""

from __future__ import annotations

import io
import tarfile
from typing import Any

import pytest
from fastapi.testclient import TestClient

from shared.storage import Storage
from tests.conftest import wait_until
from tests.distill_job_helpers import TINY_STUDENT, events, get_job, rte_session, rte_teacher, tiny_encoder, upload_rte
from tests.service_helpers import AUTH_A, AUTH_B, make_client

pytestmark = pytest.mark.slow

DISTILL = {"student": TINY_STUDENT, "stage1_epochs": 2, "stage2_epochs": 1, "batch_size": 4, "max_seq_len": 48}
#: The tiny teachers here learn nothing from 12 rows: distil them anyway (the guard's own test drops this).
DISTILL_WEAK = {**DISTILL, "allow_weak_teacher": True}


def _post_pipeline(client, train: dict[str, Any], **fields: Any):  # type: ignore[no-untyped-def]
    """POST /v1/pipelines as team A: ``train`` and the tiny DISTILL stage, plus ``fields``."""
    return client.post("/v1/pipelines", headers=AUTH_A, json={"dataset_id": train["id"], "distill": DISTILL, **fields})


def test_one_post_from_upload_to_a_downloaded_student(
    redis_url, tmp_path, synth_glue_dir, tiny_mlm_dir, start_workers
) -> None:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    encoder = tiny_encoder(tmp_path / "encoder")
    with rte_session(redis_url, tmp_path, synth_glue_dir, 12) as (client, train, env):
        dev = upload_rte(client, synth_glue_dir, tmp_path, "dev", 8)
        r = _post_pipeline(
            client,
            train,
            dev_dataset_id=dev["id"],
            base_model=str(encoder),
            finetune={"epochs": 1, "batch_size": 4, "max_seq_len": 48},
            augment={"n": 2, "k": 3, "mlm_model": str(tiny_mlm_dir), "shard_rows": 4},
            distill=DISTILL_WEAK,
        )
        assert r.status_code == 202, r.text
        pipe = r.json()
        assert r.headers["location"] == f"/v1/jobs/{pipe['id']}"
        children = pipe["params"]["children"]
        assert set(children) == {"finetune", "augmentation", "distillation"} and all(children.values())
        assert pipe["params"]["distill"]["teacher"] == {"job_id": children["finetune"]}
        assert pipe["progress"]["stage"] == "finetune" and set(pipe["progress"]["children"]) == set(children)
        for child in children.values():
            assert get_job(client, child)["status"] == "queued"
        assert client.get(f"/v1/jobs/{pipe['id']}", headers=AUTH_B).status_code == 404

        start_workers(1, env, queue="distill")
        start_workers(1, env, queue="augment")
        stages = set()

        def finished() -> bool:
            job = get_job(client, pipe["id"])
            stages.add(job["progress"].get("stage"))
            return job["status"] in ("succeeded", "failed", "cancelled")

        wait_until(finished, 150, "the pipeline to finish", interval=0.3)
        done = get_job(client, pipe["id"])
        assert done["status"] == "succeeded", (done["error"], events(client, pipe["id"])[-8:])
        # polls see the stages they happen to catch; the stage events record every one
        stage_events = {e["data"].get("stage") for e in events(client, pipe["id"]) if e["kind"] == "stage"}
        assert {"finetune", "distill-intermediate", "distill-prediction"} <= stage_events
        assert "finetune" in stages and len(stages - {None}) >= 2
        assert {c["status"] for c in done["progress"]["children"].values()} == {"succeeded"}
        assert done["result"]["download"] == f"/v1/jobs/{pipe['id']}/result"
        assert "accuracy" in done["result"]["student"]["dev"] and "accuracy" in done["result"]["teacher_job"]["dev"]
        kinds = [e["kind"] for e in events(client, pipe["id"])]
        assert kinds.count("stage") >= 3 and "evaluation" in kinds and kinds[-1] == "succeeded"
        metrics = client.get(f"/v1/jobs/{pipe['id']}/metrics", headers=AUTH_A).json()["points"]
        assert {p["job_id"] for p in metrics} == {children["finetune"], children["distillation"]}
        _assert_stored_bytes_count_each_file_once(client, storage=Storage(tmp_path / "data"), pipeline=done)

        download = client.get(f"/v1/jobs/{pipe['id']}/result", headers=AUTH_A)
        assert download.status_code == 200 and download.headers["content-type"] == "application/gzip"
        out = tmp_path / "student"
        with tarfile.open(fileobj=io.BytesIO(download.content), mode="r:gz") as tar:
            tar.extractall(out, filter="data")
        folder = out / "model"
        assert {"config.json", "report.json", "tokenizer.json"} <= {p.name for p in folder.iterdir()}
        model = AutoModelForSequenceClassification.from_pretrained(folder)
        tokenizer = AutoTokenizer.from_pretrained(folder)
        logits = model(**tokenizer("A man is here.", "Someone is here.", return_tensors="pt")).logits
        assert logits.shape == (1, 2) and model.config.num_hidden_layers == 1


def _assert_stored_bytes_count_each_file_once(client: TestClient, storage: Storage, pipeline: dict[str, Any]) -> None:
    """The team's stored bytes are the sizes of the files on disk: the uploads and each child's result, the
    distillation's archive once although the pipeline's download serves it too (the pipeline owns no file)."""
    children = pipeline["params"]["children"]
    student = get_job(client, children["distillation"])["result"]
    assert "bytes" not in pipeline["result"] and pipeline["result"]["file"] == student["file"]
    results = [get_job(client, child)["result"]["file"] for child in children.values()]
    datasets = client.get("/v1/datasets", headers=AUTH_A).json()["items"]
    files = [storage.root / f for f in results] + [storage.dataset_file(d["id"], d["format"]) for d in datasets]
    usage = client.get("/v1/usage", headers=AUTH_A).json()["usage"]
    assert len(files) == 5 and usage["stored_bytes"] == sum(f.stat().st_size for f in files)


def test_a_fine_tuned_teacher_that_fails_the_guard_stops_the_pipeline_before_distilling(
    redis_url, tmp_path, synth_glue_dir, tiny_mlm_dir, start_workers
) -> None:
    with rte_session(redis_url, tmp_path, synth_glue_dir, 8) as (client, train, env):
        dev = upload_rte(client, synth_glue_dir, tmp_path, "dev", 16)
        pipe = _post_pipeline(  # DISTILL, no allow_weak_teacher: one epoch on 8 rows teaches a tiny encoder nothing
            client,
            train,
            dev_dataset_id=dev["id"],
            base_model=str(tiny_encoder(tmp_path / "encoder")),
            finetune={"epochs": 1, "batch_size": 4, "max_seq_len": 48},
            augment={"n": 1, "k": 3, "mlm_model": str(tiny_mlm_dir), "shard_rows": 8},
        ).json()
        start_workers(1, env, queue="distill")
        start_workers(1, env, queue="augment")
        wait_until(lambda: get_job(client, pipe["id"])["status"] != "queued", 30, "the pipeline to start")
        done = wait_until(
            lambda: (j := get_job(client, pipe["id"]))["status"] in ("succeeded", "failed", "cancelled") and j,
            150,
            "the pipeline to end",
            interval=0.3,
        )
        assert done["status"] == "failed" and done["error"]["code"] == "distillation_failed"
        assert "(weak_teacher)" in done["error"]["message"] and "majority-class baseline" in done["error"]["message"]
        children = done["params"]["children"]
        assert get_job(client, children["finetune"])["status"] == "succeeded"
        assert get_job(client, children["distillation"])["error"]["code"] == "weak_teacher"
        stages = {e["data"].get("stage") for e in events(client, pipe["id"]) if e["kind"] == "stage"}
        assert "finetune" in stages and "distill-intermediate" not in stages


def test_cancelling_a_pipeline_cancels_its_children(redis_url, tmp_path, synth_glue_dir, tiny_mlm_dir) -> None:
    teacher = rte_teacher(tmp_path / "teacher")
    with make_client(redis_url, tmp_path / "data") as client:
        train = upload_rte(client, synth_glue_dir, tmp_path, "train", 4)
        pipe = _post_pipeline(client, train, teacher=str(teacher), augment={"mlm_model": str(tiny_mlm_dir)}).json()
        assert pipe["params"]["children"]["finetune"] is None
        r = client.post(f"/v1/jobs/{pipe['id']}/cancel", headers=AUTH_A)
        assert r.status_code == 202 and r.json()["status"] == "cancelled"
        for role in ("augmentation", "distillation"):
            assert r.json()["progress"]["children"][role]["status"] == "cancelled"
        listed = client.get("/v1/jobs", params={"type": "pipeline"}, headers=AUTH_A).json()["items"]
        assert [j["id"] for j in listed] == [pipe["id"]]
        assert listed[0]["progress"]["children"] == r.json()["progress"]["children"]


def test_pipeline_requests_are_checked_field_by_field(redis_url, tmp_path, synth_glue_dir) -> None:
    with make_client(redis_url, tmp_path / "data") as client:
        train = upload_rte(client, synth_glue_dir, tmp_path, "train", 4)
        base = {"dataset_id": train["id"], "teacher": "some/teacher"}
        cases = [
            ({"dataset_id": train["id"]}, 422, "base_model"),
            ({**base, "base_model": "x"}, 422, "base_model"),
            ({**base, "dataset_id": "ds_nope"}, 404, "dataset_id"),
            ({**base, "dev_dataset_id": "ds_nope"}, 404, "dev_dataset_id"),
            ({**base, "augment": {"n": -1}}, 422, "augment.n"),
            ({**base, "augment": {"nn": 3}}, 422, "augment.nn"),
            ({**base, "augment": {"dataset_id": "x"}}, 422, "augment.dataset_id"),
            ({**base, "distill": {"student": {"layers": 0}}}, 422, "layers"),
            ({**base, "teacher": {"job_id": train["id"]}}, 404, "teacher.job_id"),
            ({**base, "finetune": {"epochs": 0}}, 422, "epochs"),
            # every child's params are resolved before any child exists: no orphan fine-tune job
            (
                {"dataset_id": train["id"], "base_model": "x", "distill": {"student": {"hidden": 30, "heads": 4}}},
                422,
                "student.hidden",
            ),
        ]
        for body, code, field in cases:
            r = client.post("/v1/pipelines", headers=AUTH_A, json=body)
            assert r.status_code == code, (body, r.text)
            assert field in r.text, (body, r.text)
        assert client.get("/v1/jobs", headers=AUTH_A).json()["total"] == 0  # nothing half-created
