"""POST/GET/DELETE /v1/datasets on a real Redis: the CLI's reader decides, errors name row and column."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from shared.job_store import JobStore
from tests.service_helpers import AUTH_A, AUTH_B, SST2_SAMPLE, make_client, upload


@pytest.fixture
def client(redis_url: str, tmp_path: Path):
    with make_client(redis_url, tmp_path / "data", max_upload_mb=1) as c:
        yield c


def test_upload_sst2_by_task(client) -> None:
    data = SST2_SAMPLE.encode()
    r = upload(client, "sst2.tsv", data, task="sst-2", name="my sst2")
    assert r.status_code == 201, r.text
    doc = r.json()
    assert doc["name"] == "my sst2" and doc["rows"] == 3 and doc["columns"] == ["sentence", "label"]
    assert doc["task"] == "sst-2" and doc["text_columns"] == ["sentence"] and doc["label_column"] == "label"
    assert doc["sha256"] == hashlib.sha256(data).hexdigest() and doc["format"] == "tsv"
    stored = client.app.state.storage.dataset_file(doc["id"], "tsv")
    assert stored.read_bytes() == data  # kept byte for byte
    got = client.get(f"/v1/datasets/{doc['id']}?preview=2", headers=AUTH_A).json()
    assert got["preview"] == [
        {"sentence": "it 's a charming and often affecting journey . ", "label": "1"},
        {"sentence": "unflinchingly bleak and desperate ", "label": "0"},
    ]


def test_upload_with_explicit_columns_csv_and_jsonl(client) -> None:
    r = upload(client, "pairs.csv", b'a,b,y\n"x, quoted",two,1\n', text_columns="a, b", label_column="y")
    assert r.status_code == 201, r.text
    assert r.json()["text_columns"] == ["a", "b"] and r.json()["format"] == "csv"
    r = upload(client, "d.jsonl", b'{"text": "hello", "label": 1}\n', text_columns="text")
    assert r.status_code == 201, r.text
    assert r.json()["label_column"] is None


@pytest.mark.parametrize(
    ("filename", "data", "fields", "status", "needles"),
    [
        ("wrong.tsv", b"text\tlabel\nhi\t1\n", {"task": "sst-2"}, 422, ["sentence", "column not found"]),
        ("ragged.tsv", b"sentence\tlabel\nfine\t1\nbroken\n", {"task": "sst-2"}, 422, ["row 2", "line 3", "fields"]),
        (
            "latin1.tsv",
            "sentence\tlabel\ncaf\u00e9\t1\n".encode("latin-1"),
            {"task": "sst-2"},
            422,
            ["UTF-8", "line 2"],
        ),
        ("empty.tsv", b"", {"task": "sst-2"}, 422, ["empty"]),
        ("header-only.tsv", b"sentence\tlabel\n", {"task": "sst-2"}, 422, ["no data rows"]),
        ("badlabel.tsv", b"sentence\tlabel\nok\t1\nbad\t7\n", {"task": "sst-2"}, 422, ["row 2", "'label'", "'7'"]),
        ("x.tsv", b"sentence\tlabel\nok\t1\n", {"task": "sst-9"}, 422, ["task", "sst-9"]),
        ("x.tsv", b"sentence\tlabel\nok\t1\n", {}, 422, ["text column"]),
        ("x.parquet", b"sentence\tlabel\nok\t1\n", {"task": "sst-2"}, 422, ["suffix", ".parquet"]),
        ("big.tsv", b"sentence\tlabel\n" + b"word " * 300_000 + b"\t1\n", {"task": "sst-2"}, 413, ["file", "1 MiB"]),
        (
            "s.jsonl",
            b'{"sentence": "good \\ud800 movie", "label": "1"}\n',
            {"task": "sst-2"},
            422,
            ["line 1", "row 1", "'sentence'", "surrogate"],
        ),
        ("k.jsonl", b'{"sen\\udc00": "a", "label": "1"}\n', {"text_columns": "x"}, 422, ["surrogate", "sen\\\\udc00"]),
        ("deep.jsonl", b"[" * 200_000 + b"\n", {"task": "sst-2"}, 422, ["line 1", "nested too deeply"]),
        (
            "nan.tsv",
            b"sentence1\tsentence2\tscore\na\tb\tnan\n",
            {"task": "sts-b"},
            422,
            ["line 2", "'score'", "finite"],
        ),
    ],
)
def test_bad_uploads_answer_4xx_with_a_message(client, filename, data, fields, status, needles) -> None:
    r = upload(client, filename, data, **fields)
    assert r.status_code == status, r.text
    text = r.text
    for needle in needles:
        assert needle in text, f"{needle!r} missing from {text}"
    assert client.get("/v1/datasets", headers=AUTH_A).json()["total"] == 0  # nothing half-registered


def test_bad_uploads_error_detail_is_structured(client) -> None:
    r = upload(client, "ragged.tsv", b"sentence\tlabel\nfine\t1\nbroken\n", task="sst-2")
    where = r.json()["detail"][0]["ctx"]  # FastAPI's 422 shape; the file problem's place in ctx
    assert where["file"] == "ragged.tsv" and where["row"] == 2 and where["line"] == 3
    r = upload(client, "badlabel.tsv", b"sentence\tlabel\nok\t1\nbad\t7\n", task="sst-2")
    assert r.json()["detail"][0]["ctx"]["column"] == "label"


def test_missing_file_field_and_non_multipart(client) -> None:
    r = client.post("/v1/datasets", headers=AUTH_A, data={"task": "sst-2"}, files={"other": ("a", b"x")})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "file"] and "'file'" in r.text
    r = client.post("/v1/datasets", headers=AUTH_A, json={"file": "x"})
    assert r.status_code == 415 and "multipart" in r.json()["detail"]


def test_oversized_declared_length_is_refused_before_reading(client) -> None:
    r = client.post(
        "/v1/datasets",
        headers={**AUTH_A, "content-length": str(50 << 20), "content-type": "multipart/form-data; boundary=x"},
        content=b"--x--",
    )
    assert r.status_code == 413 and "1 MiB" in r.json()["detail"]


def test_auth_and_team_isolation(client) -> None:
    ds = upload(client, "sst2.tsv", SST2_SAMPLE.encode(), task="sst-2").json()
    assert client.get("/v1/datasets").status_code == 401
    r = client.get("/v1/datasets", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401 and r.json()["detail"] == "unknown API key"
    assert r.headers["www-authenticate"] == "Bearer"
    assert client.get("/v1/datasets", headers={"Authorization": "Basic abc"}).status_code == 401
    assert upload(client, "sst2.tsv", SST2_SAMPLE.encode(), headers={}, task="sst-2").status_code == 401
    assert client.get(f"/v1/datasets/{ds['id']}", headers=AUTH_B).status_code == 404
    assert client.delete(f"/v1/datasets/{ds['id']}", headers=AUTH_B).status_code == 404
    assert client.get("/v1/datasets", headers=AUTH_B).json()["total"] == 0
    r = client.post("/v1/augmentations", headers=AUTH_B, json={"dataset_id": ds["id"]})
    assert r.status_code == 404 and "dataset_id" in r.json()["detail"]


def test_list_pages_and_delete(client) -> None:
    ids = [upload(client, f"d{i}.tsv", SST2_SAMPLE.encode(), task="sst-2").json()["id"] for i in range(3)]
    page = client.get("/v1/datasets?offset=1&limit=1", headers=AUTH_A).json()
    assert page["total"] == 3 and [d["id"] for d in page["items"]] == [ids[1]]
    r = client.get("/v1/datasets?limit=0", headers=AUTH_A)
    assert r.status_code == 422 and "limit" in r.text
    # a queued job reading the dataset blocks its deletion
    store: JobStore = client.app.state.job_store
    job_id = store.create(job_type="augmentation", team="team-a", params={}, dataset_ids=[ids[0]])
    r = client.delete(f"/v1/datasets/{ids[0]}", headers=AUTH_A)
    assert r.status_code == 409 and job_id in r.json()["detail"]
    store.cancel(job_id)
    assert client.delete(f"/v1/datasets/{ids[0]}", headers=AUTH_A).status_code == 204
    assert client.get(f"/v1/datasets/{ids[0]}", headers=AUTH_A).status_code == 404
    assert not client.app.state.storage.dataset_dir(ids[0]).exists()


def test_unknown_form_field_is_refused_naming_it(client) -> None:
    data = b"sentence\tlabel\nok\t1\n"
    r = upload(client, "s.tsv", data, task="sst-2", lable_column="label", nmae="x")
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert [d["loc"] for d in detail] == [["body", "lable_column"], ["body", "nmae"]]
    assert "unknown form field" in detail[0]["msg"] and "label_column" in detail[0]["msg"]
    assert client.get("/v1/datasets", headers=AUTH_A).json()["total"] == 0
    storage = client.app.state.storage
    assert not any(storage.uploads_dir().iterdir())  # the uploaded temp file was discarded
    datasets = storage.root / "datasets"
    assert not datasets.exists() or not any(datasets.iterdir())  # nothing stored
    r = upload(client, "s.tsv", data, task="sst-2", label_column="label", name="n", format="tsv", text_columns="")
    assert r.status_code == 201, r.text  # every documented field is still accepted


def test_preview_of_a_dataset_deleted_meanwhile_is_404(client) -> None:
    ds = upload(client, "sst2.tsv", SST2_SAMPLE.encode(), task="sst-2").json()
    client.app.state.storage.delete_dataset(ds["id"])  # a DELETE removing the files after GET found the record
    r = client.get(f"/v1/datasets/{ds['id']}?preview=2", headers=AUTH_A)
    assert r.status_code == 404 and ds["id"] in r.json()["detail"] and "not found" in r.json()["detail"]


def test_preview_of_a_stored_file_that_no_longer_parses_is_409(client, tmp_path: Path) -> None:
    ds = upload(client, "sst2.tsv", SST2_SAMPLE.encode(), task="sst-2").json()
    client.app.state.storage.dataset_file(ds["id"], "tsv").write_bytes(b"sentence\tlabel\n")
    r = client.get(f"/v1/datasets/{ds['id']}?preview=2", headers=AUTH_A)
    detail = r.json()["detail"]
    assert r.status_code == 409 and "sst2.tsv: the file has a header but no data rows" in detail
    assert str(tmp_path) not in detail  # the server's paths stay private


def test_openapi_declares_what_the_changed_routes_answer(client) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"404", "409"} <= set(paths["/v1/datasets/{dataset_id}"]["get"]["responses"])
    post = paths["/v1/datasets"]["post"]
    assert "422" in post["responses"]
    form = post["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert form["additionalProperties"] is False
    assert set(form["properties"]) == {"file", "task", "text_columns", "label_column", "name", "format"}
