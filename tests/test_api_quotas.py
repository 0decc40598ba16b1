"""Per-team limits on the real app and a real Redis: active jobs (429 + Retry-After), rows out of an
augmentation and stored bytes (413/422), each message naming the limit and the figure; GET /v1/usage."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from shared.quotas import LimitsConfigError
from tests.service_helpers import AUTH_A, AUTH_B, SST2_SAMPLE, make_client, upload


@pytest.fixture
def roots(tmp_path: Path, tiny_mlm_dir: Path) -> Path:
    shutil.copytree(tiny_mlm_dir, tmp_path / "models" / "tiny-mlm")
    return tmp_path / "models"


def _client(redis_url: str, tmp_path: Path, roots: Path, limits: dict, **settings):
    return make_client(redis_url, tmp_path / "data", model_roots=str(roots), team_limits=json.dumps(limits), **settings)


def _augment(client, dataset_id: str, auth=AUTH_A, **fields):
    body = {"dataset_id": dataset_id, "mlm_model": "tiny-mlm", "n": 2, "k": 2, **fields}
    return client.post("/v1/augmentations", headers=auth, json=body)


def test_active_job_limit_answers_429_until_a_job_finishes(redis_url: str, tmp_path: Path, roots: Path) -> None:
    with _client(redis_url, tmp_path, roots, {"team-a": {"max_active_jobs": 2}}, quota_retry_after_s=7) as client:
        ds_a = upload(client, "a.tsv", SST2_SAMPLE.encode(), task="sst-2").json()["id"]
        ds_b = upload(client, "b.tsv", SST2_SAMPLE.encode(), headers=AUTH_B, task="sst-2").json()["id"]
        first, second = (_augment(client, ds_a) for _ in range(2))
        assert first.status_code == second.status_code == 202
        refused = _augment(client, ds_a)
        assert refused.status_code == 429 and refused.headers["Retry-After"] == "7"
        assert "max_active_jobs=2" in refused.json()["detail"] and "2 jobs are queued or running" in refused.text
        assert _augment(client, ds_b, auth=AUTH_B).status_code == 202  # another team is not held back
        pipeline = {"dataset_id": ds_a, "teacher": "tiny-mlm", "augment": {"mlm_model": "tiny-mlm"}}
        assert client.post("/v1/pipelines", headers=AUTH_A, json=pipeline).status_code == 429
        client.post(f"/v1/jobs/{first.json()['id']}/cancel", headers=AUTH_A)
        assert _augment(client, ds_a).status_code == 202  # the cancelled job freed its slot
        usage = client.get("/v1/usage", headers=AUTH_A).json()
        assert usage["usage"]["active_jobs"] == 2 and usage["limits"]["max_active_jobs"] == 2
        assert usage["usage"]["jobs"] == {"queued": 2, "cancelled": 1}
        assert client.get("/v1/jobs", headers=AUTH_A).json()["total"] == 3  # nothing half-created


def test_rows_out_limit_names_the_figure(redis_url: str, tmp_path: Path, roots: Path) -> None:
    with _client(redis_url, tmp_path, roots, {"team-a": {"max_augment_rows_out": 100}}) as client:
        ds = upload(client, "a.tsv", SST2_SAMPLE.encode(), task="sst-2").json()["id"]
        r = _augment(client, ds, n=1000, k=1000)
        assert r.status_code == 422, r.text
        (item,) = r.json()["detail"]  # FastAPI's 422 shape, loc naming the field
        detail = item["msg"]
        assert item["loc"] == ["body", "n"]
        assert "field 'n'" in detail and "3,003 rows" in detail and "max_augment_rows_out=100" in detail
        assert _augment(client, ds, n=32).status_code == 202  # 3 x 33 = 99 rows


def test_stored_bytes_limit_refuses_uploads_and_jobs(redis_url: str, tmp_path: Path, roots: Path) -> None:
    data = SST2_SAMPLE.encode()
    with _client(redis_url, tmp_path, roots, {}) as client:
        ds = upload(client, "a.tsv", data, task="sst-2").json()["id"]
        usage = client.get("/v1/usage", headers=AUTH_A).json()["usage"]
        assert usage["stored_bytes"] == len(data) and usage["datasets"] == 1
    with _client(redis_url, tmp_path, roots, {"team-a": {"max_stored_mb": 0}}) as client:
        r = upload(client, "b.tsv", data, task="sst-2")
        assert r.status_code == 413 and "max_stored_mb=0" in r.text and f"{len(data):,} bytes" in r.text
        r = _augment(client, ds)
        assert r.status_code == 422 and "max_stored_mb=0" in r.text
        assert client.get("/v1/datasets", headers=AUTH_A).json()["total"] == 1  # the refused file is gone
        assert client.delete(f"/v1/datasets/{ds}", headers=AUTH_A).status_code == 204
        assert client.get("/v1/usage", headers=AUTH_A).json()["usage"]["stored_bytes"] == 0


def test_per_team_upload_size(redis_url: str, tmp_path: Path, roots: Path) -> None:
    big = b"sentence\tlabel\n" + b"word " * 300_000 + b"\t1\n"
    with _client(redis_url, tmp_path, roots, {"team-b": {"max_upload_mb": 1}}) as client:
        assert upload(client, "big.tsv", big, task="sst-2").status_code == 201
        r = upload(client, "big.tsv", big, headers=AUTH_B, task="sst-2")
        assert r.status_code == 413 and "1 MiB" in r.text


def test_malformed_team_limits_stop_the_app(redis_url: str, tmp_path: Path, roots: Path) -> None:
    for bad, needle in [
        ("{", "not JSON"),
        ('{"a": {"max_jobs": 1}}', "unknown limit"),
        ('{"a": {"max_active_jobs": -1}}', ">= 0"),
    ]:
        with pytest.raises(LimitsConfigError, match=needle):
            make_client(redis_url, tmp_path / "data", team_limits=bad)


def test_usage_and_openapi(redis_url: str, tmp_path: Path, roots: Path) -> None:
    with _client(redis_url, tmp_path, roots, {}) as client:
        usage = client.get("/v1/usage", headers=AUTH_B).json()
        assert (
            usage["team"] == "team-b"
            and usage["usage"]["active_jobs"] == 0
            and usage["limits"]["max_active_jobs"] == 20
        )
        assert client.get("/v1/usage").status_code == 401
        paths = client.get("/openapi.json").json()["paths"]
        assert {"401", "404", "422", "429"} <= set(paths["/v1/augmentations"]["post"]["responses"])
        assert "Retry-After" in paths["/v1/pipelines"]["post"]["responses"]["429"]["headers"]
