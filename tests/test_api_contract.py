"""The OpenAPI document tells the truth: schemathesis finds no failure, and the error shapes hold.

The schemathesis run is a short, bounded version of ``bench/reliability/fuzz_api.sh`` (same checks, fewer
cases, a fixed seed), against the real app in uvicorn on a real Redis, so a route that answers a status it
does not document, or a 422 that is not FastAPI's shape, fails CI.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.reliability.harness import answers_200, free_port
from services.api.contract import loc_from_message
from tests.conftest import REPO_ROOT, kill_process_group, service_env, wait_until
from tests.service_helpers import API_KEYS, AUTH_A, KEY_A, SST2_SAMPLE, make_client, upload


@pytest.mark.slow
def test_schemathesis_finds_no_contract_failure(redis_url: str, tmp_path: Path) -> None:
    st = shutil.which("st", path=str(Path(sys.executable).parent))
    assert st, "schemathesis is a dev dependency (pip install -e '.[dev]')"
    port = free_port()
    env = service_env(redis_url, tmp_path / "data", DISTILLERY_API_KEYS=API_KEYS)
    api = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "services.api.app:app_from_env", "--port", str(port)],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: answers_200(f"{base}/healthz"), 60, "the API to answer /healthz", interval=0.3)
        run = subprocess.run(
            [
                st,
                "--config-file",
                str(REPO_ROOT / "schemathesis.toml"),
                "run",
                f"{base}/openapi.json",
                "-H",
                f"Authorization: Bearer {KEY_A}",
                "--checks",
                "all",
                "-n",
                "5",
                "--seed",
                "20261129",
                "--generation-database",
                "none",
                "--no-color",
                "--warnings",
                "off",
                "--exclude-path",
                "/readyz",  # no worker runs here, so it rightly answers 503; the bench, with workers, covers it
            ],
            cwd=REPO_ROOT,
            env={**os.environ, "SCHEMATHESIS_TELEMETRY": "false"},
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert run.returncode == 0, run.stdout[-8000:] + run.stderr[-2000:]
        assert " passed" in run.stdout and "failed" not in run.stdout.split("SUMMARY")[-1]
    finally:
        kill_process_group(api)


def test_405_lists_every_method_of_the_path(redis_url: str, tmp_path: Path) -> None:
    with make_client(redis_url, tmp_path / "data") as client:
        r = client.options("/v1/datasets/ds_x", headers=AUTH_A)
        assert r.status_code == 405
        assert {m.strip() for m in r.headers["allow"].split(",")} >= {"GET", "DELETE"}
        r = client.put("/v1/jobs", headers=AUTH_A)
        assert r.status_code == 405 and "GET" in r.headers["allow"]


def test_every_422_has_fastapis_shape(redis_url: str, tmp_path: Path) -> None:
    with make_client(redis_url, tmp_path / "data") as client:
        ds = upload(client, "s.tsv", SST2_SAMPLE.encode(), task="sst-2").json()
        answers = [
            upload(client, "x.tsv", b"sentence\tlabel\nok\t1\n", task="sst-9"),  # unknown task
            upload(client, "ragged.tsv", b"sentence\tlabel\nfine\t1\nbroken\n", task="sst-2"),  # bad file
            client.post("/v1/pipelines", headers=AUTH_A, json={"dataset_id": ds["id"]}),  # no teacher source
            client.post("/v1/distillations", headers=AUTH_A, json={"teacher": "t", "train": ds, "task": "nope"}),
            client.post(
                "/v1/distillations",
                headers=AUTH_A,
                json={"teacher": "t", "train": {"dataset_id": ds["id"]}, "task": "x"},
            ),
        ]
        for r in answers:
            assert r.status_code == 422, r.text
            detail = r.json()["detail"]
            assert isinstance(detail, list) and detail, r.text
            assert all({"loc", "msg", "type"} <= set(item) for item in detail), r.text
        ragged = answers[1].json()["detail"][0]
        assert ragged["loc"] == ["body", "file"] and ragged["ctx"]["row"] == 2 and ragged["ctx"]["line"] == 3
        assert answers[4].json()["detail"][0]["loc"] == ["body", "task"]


def test_loc_from_message() -> None:
    assert loc_from_message("field 'teacher.job_id': job 'x' not found") == ["body", "teacher", "job_id"]
    assert loc_from_message("fields 'teacher' and 'base_model': give one") == ["body", "teacher"]
    assert loc_from_message("something else") == ["body"]


def test_pages_are_bounded_not_500(redis_url: str, tmp_path: Path) -> None:
    with make_client(redis_url, tmp_path / "data", max_page_size=2) as client:
        for i in range(3):
            upload(client, f"d{i}.tsv", SST2_SAMPLE.encode(), task="sst-2")
        page = client.get("/v1/datasets?limit=100", headers=AUTH_A).json()
        assert page["limit"] == 2 and len(page["items"]) == 2 and page["total"] == 3  # cut to the maximum
        assert client.get("/v1/datasets?limit=0", headers=AUTH_A).status_code == 422
        assert client.get("/v1/jobs?offset=-1", headers=AUTH_A).status_code == 422
        assert client.get(f"/v1/datasets?offset={2**70}", headers=AUTH_A).status_code == 422  # was a 500
        assert client.get(f"/v1/datasets?offset={2**53 - 1}", headers=AUTH_A).json()["items"] == []


def test_redis_down_is_503_with_retry_after(tmp_path: Path) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    with make_client(dead, tmp_path / "data") as client:
        uploaded = upload(client, "s.tsv", SST2_SAMPLE.encode(), task="sst-2")
        for r in (client.get("/v1/jobs", headers=AUTH_A), client.get("/v1/jobs/job_x", headers=AUTH_A), uploaded):
            assert r.status_code == 503, r.text
            assert r.headers["retry-after"] and "Redis" in r.json()["detail"]
        datasets = tmp_path / "data" / "datasets"
        assert not datasets.exists() or not any(datasets.iterdir())  # the unregistered upload was removed


# --- refusals that used to be 500s or late worker failures --------------------------------------------------


def _client(redis_url: str, tmp_path: Path):
    return make_client(redis_url, tmp_path / "data")


def test_a_path_too_long_for_the_file_system_is_a_422_naming_the_field(
    redis_url: str, tmp_path: Path, tiny_mlm_dir: Path
) -> None:
    """Path.exists() raised ENAMETOOLONG: every job submission naming such a reference answered 500."""
    long = "x" * 300
    with _client(redis_url, tmp_path) as client:
        ds = upload(client, "s.tsv", SST2_SAMPLE.encode(), task="sst-2").json()["id"]
        teacher = str(tiny_mlm_dir)
        cases = [
            ("/v1/augmentations", {"dataset_id": ds, "mlm_model": long}, ["body", "mlm_model"]),
            ("/v1/augmentations", {"dataset_id": ds, "mlm_model": teacher, "glove": long}, ["body", "glove"]),
            ("/v1/finetunes", {"dataset_id": ds, "model": long}, ["body", "model"]),
            ("/v1/distillations", {"teacher": long, "train": {"dataset_id": ds}}, ["body", "teacher"]),
            (
                "/v1/distillations",
                {"teacher": teacher, "train": {"dataset_id": ds}, "student": {"checkpoint": long}},
                ["body", "student", "checkpoint"],
            ),
            ("/v1/pipelines", {"dataset_id": ds, "base_model": long}, ["body", "base_model"]),
        ]
        for path, body, loc in cases:
            r = client.post(path, headers=AUTH_A, json=body)
            assert r.status_code == 422, (path, r.text)
            assert r.json()["detail"][0]["loc"] == loc, r.text
        assert client.get("/v1/jobs", headers=AUTH_A).json()["total"] == 0


def test_a_boundary_the_parser_refuses_is_a_400_and_leaves_no_file(redis_url: str, tmp_path: Path) -> None:
    boundary = "b" * 300  # python-multipart refuses boundaries over 256 bytes
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.tsv"\r\n\r\nx\r\n--{boundary}--\r\n'
    )
    with _client(redis_url, tmp_path) as client:
        headers = {**AUTH_A, "Content-Type": f"multipart/form-data; boundary={boundary}"}
        r = client.post("/v1/datasets", headers=headers, content=body.encode())
        assert r.status_code == 400 and "multipart" in r.json()["detail"], r.text
        uploads = tmp_path / "data" / "uploads"
        assert not uploads.exists() or not any(uploads.iterdir())


def test_seeds_are_bounded_like_numpy_takes_them(redis_url: str, tmp_path: Path) -> None:
    with _client(redis_url, tmp_path) as client:
        cases = [
            ("/v1/augmentations", {"dataset_id": "ds_x", "seed": -1}, ["body", "seed"]),
            ("/v1/finetunes", {"dataset_id": "ds_x", "model": "m", "seed": 2**32}, ["body", "seed"]),
            ("/v1/distillations", {"teacher": "t", "train": {"dataset_id": "d"}, "seed": -1}, ["body", "seed"]),
            (
                "/v1/general-distillations",
                {"teacher": "t", "corpus_dataset_ids": ["d"], "seed": 2**32},
                ["body", "seed"],
            ),
            (
                "/v1/pipelines",
                {"dataset_id": "d", "teacher": "t", "distill": {"seed": -1}},
                ["body", "distill", "seed"],
            ),
        ]
        for path, body, loc in cases:
            r = client.post(path, headers=AUTH_A, json=body)
            assert r.status_code == 422 and r.json()["detail"][0]["loc"] == loc, (path, r.text)
        schema = client.get("/openapi.json").json()["components"]["schemas"]["AugmentationRequest"]
        assert schema["properties"]["seed"]["anyOf"][0] == {"type": "integer", "minimum": 0, "maximum": 2**32 - 1}


def test_layer_maps_are_checked_at_submission(redis_url: str, tmp_path: Path, tiny_mlm_dir: Path) -> None:
    """A malformed map is a schema 422; one that cannot fit the student a 422 once the references are found
    (before: a job that failed on the worker, in a pipeline only after the whole fine-tune)."""
    teacher = str(tiny_mlm_dir)
    with _client(redis_url, tmp_path) as client:
        ds = upload(client, "s.tsv", SST2_SAMPLE.encode(), task="sst-2").json()["id"]
        distil = {"teacher": teacher, "train": {"dataset_id": ds}}
        refused = [
            ("/v1/distillations", {**distil, "layer_map": "sideways"}, ["body", "layer_map"]),
            ("/v1/distillations", {**distil, "layer_map": [2, 2]}, ["body", "layer_map"]),  # not increasing
            ("/v1/distillations", {**distil, "layer_map": "1,2"}, ["body", "layer_map"]),  # default student: 4 layers
            ("/v1/distillations", {**distil, "student": {"layers": 3}, "layer_map": [1, 2]}, ["body", "layer_map"]),
            (
                "/v1/pipelines",
                {"dataset_id": ds, "base_model": teacher, "distill": {"student": {"layers": 2}, "layer_map": "1,2,3"}},
                ["body", "distill", "layer_map"],
            ),
            (
                "/v1/general-distillations",
                {"teacher": teacher, "corpus_dataset_ids": [ds], "student": {"layers": 2}, "layer_map": [3, 1]},
                ["body", "layer_map"],
            ),
        ]
        for path, body, loc in refused:
            r = client.post(path, headers=AUTH_A, json=body)
            assert r.status_code == 422, (path, r.text)
            assert r.json()["detail"][0]["loc"][: len(loc)] == loc, r.text
        assert client.get("/v1/jobs", headers=AUTH_A).json()["total"] == 0  # nothing was created
        # a schema-valid body naming no dataset stays the 404 the OpenAPI document promises
        missing = {"teacher": teacher, "train": {"dataset_id": "ds_nope"}, "layer_map": [2, 1]}
        assert client.post("/v1/distillations", headers=AUTH_A, json=missing).status_code == 404
        fits = {**distil, "student": {"layers": 2}, "layer_map": " 1, 2 "}
        assert client.post("/v1/distillations", headers=AUTH_A, json=fits).status_code == 202
        assert client.post("/v1/distillations", headers=AUTH_A, json={**distil, "layer_map": "Top"}).status_code == 202


def test_prediction_requests_are_strict_like_the_others(redis_url: str, tmp_path: Path) -> None:
    with _client(redis_url, tmp_path) as client:
        for body in ({"dataset_id": "d", "batch_size": True}, {"dataset_id": "d", "max_seq_len": "64"}):
            r = client.post("/v1/jobs/job_x/predictions", headers=AUTH_A, json=body)
            assert r.status_code == 422, r.text
        r = client.post("/v1/jobs/job_x/predictions", headers=AUTH_A, json={"dataset_id": "d", "form": "onnx"})
        assert r.status_code == 404, r.text  # a JSON string still picks the form


def test_head_is_not_advertised_where_it_is_not_served(redis_url: str, tmp_path: Path) -> None:
    with _client(redis_url, tmp_path) as client:
        r = client.head("/v1/jobs", headers=AUTH_A)
        assert r.status_code == 405
        allowed = {m.strip() for m in r.headers["allow"].split(",")}
        assert "GET" in allowed and "HEAD" not in allowed


def test_every_authenticated_route_documents_401_and_503(redis_url: str, tmp_path: Path) -> None:
    with _client(redis_url, tmp_path) as client:
        paths = client.get("/openapi.json").json()["paths"]
    assert {"401", "503", "507"} <= set(paths["/v1/jobs/{job_id}"]["delete"]["responses"])
    for path in ("/v1/models", "/v1/usage"):
        assert {"401", "503"} <= set(paths[path]["get"]["responses"]), path
