"""A full data directory (a real, small tmpfs): uploads answer 507, a job fails with error code disk_full,
and nothing stored before is changed. Skipped where this process may not mount a tmpfs (not root)."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.reliability.harness import fill
from shared.storage import DISK_FULL
from tests.conftest import service_env
from tests.service_helpers import AUTH_A, SST2_SAMPLE, make_client, upload, wait_for_status

ROWS = "sentence\tlabel\n" + "".join(f"row {i} is a fine film .\t{i % 2}\n" for i in range(12))


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs, unmounted afterwards."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()
    }


def test_upload_on_a_full_disk_is_507_and_nothing_stored_changes(redis_url: str, small_disk: Path) -> None:
    data = small_disk / "data"
    with make_client(redis_url, data) as client:
        kept = upload(client, "kept.tsv", SST2_SAMPLE.encode(), task="sst-2").json()
        before = digests(data)
        filler = fill(small_disk)
        r = upload(client, "more.tsv", ROWS.encode(), task="sst-2")
        assert r.status_code == 507, r.text
        assert r.json()["detail"].endswith(DISK_FULL)
        assert digests(data) == before  # no partial upload left, nothing stored touched
        assert client.get("/v1/datasets", headers=AUTH_A).json()["total"] == 1
        assert client.get(f"/v1/datasets/{kept['id']}?preview=3", headers=AUTH_A).status_code == 200
        filler.unlink()  # space again: uploads work again
        assert upload(client, "more.tsv", ROWS.encode(), task="sst-2").status_code == 201


def test_job_on_a_full_disk_fails_with_disk_full(
    redis_url: str, small_disk: Path, tiny_mlm_dir: Path, start_workers
) -> None:
    data = small_disk / "data"
    start_workers(1, service_env(redis_url, data))
    with make_client(redis_url, data) as client:
        ds = upload(client, "rows.tsv", ROWS.encode(), task="sst-2").json()
        before = digests(data)
        filler = fill(small_disk)
        body = {"dataset_id": ds["id"], "n": 2, "shard_rows": 4, "mlm_model": str(tiny_mlm_dir)}
        job = client.post("/v1/augmentations", headers=AUTH_A, json=body).json()
        final = wait_for_status(client, job["id"], {"succeeded", "failed", "cancelled"})
        assert final["status"] == "failed" and final["error"]["code"] == "disk_full", final
        assert "no space left" in final["error"]["message"]
        assert {k: v for k, v in digests(data).items() if k in before} == before
        filler.unlink()
        again = client.post("/v1/augmentations", headers=AUTH_A, json=body).json()
        assert wait_for_status(client, again["id"], {"succeeded", "failed"})["status"] == "succeeded"
