"""`distillery client` against the API as a real uvicorn process with real workers: an augmentation whose
download is byte-identical to local `distillery augment`, the job commands and their exit codes, the
server's 4xx detail shown as it came, and a pipeline that ends in a student folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.cli.main import main as cli_main
from shared.job_store import JobStore
from shared.redis_conn import connect
from tests.browser_helpers import ApiServer
from tests.distill_helpers import glue_sample
from tests.distill_job_helpers import TINY_STUDENT, rte_teacher, worker_env
from tests.service_helpers import API_KEYS, KEY_A

pytestmark = pytest.mark.slow

AUGMENT = ["--n", "4", "--k", "5", "--p", "0.5", "--seed", "7"]


@pytest.fixture
def env(redis_url: str, tmp_path: Path) -> dict[str, str]:
    return worker_env(redis_url, tmp_path / "data", DISTILLERY_API_KEYS=API_KEYS)


@pytest.fixture
def server(env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    api = ApiServer(env, tmp_path).start()
    monkeypatch.setenv("DISTILLERY_URL", api.url)
    monkeypatch.setenv("DISTILLERY_API_KEY", KEY_A)
    yield api
    api.stop()


def test_client_augment_is_byte_identical_to_local_augment(
    server, env, tmp_path, tiny_mlm_dir, mrpc_sample, start_workers, capsys
) -> None:
    start_workers(2, env)
    common = ["--task", "mrpc", "--input", str(mrpc_sample), "--mlm-model", str(tiny_mlm_dir), *AUGMENT]
    common += ["--precision", "fp32"]  # both commands take it
    local, remote = tmp_path / "local.tsv", tmp_path / "remote.tsv"
    assert cli_main(["augment", *common, "--output", str(local)]) == 0
    code = cli_main(["client", "augment", *common, "--output", str(remote), "--shard-rows", "3"])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert remote.read_bytes() == local.read_bytes()
    assert f"-> {remote}: rows in 9" in out.out
    assert "precision fp32 (fp32 asked for)" in out.out  # the job's result says what ran
    assert "job_" in out.err and "succeeded" in out.err  # the progress lines (stderr is not a terminal here)


def test_job_commands_and_exit_codes(
    server, env, redis_url, tmp_path, tiny_mlm_dir, mrpc_sample, start_workers, capsys
) -> None:
    start_workers(1, env)
    args = ["--task", "mrpc", "--input", str(mrpc_sample), "--mlm-model", str(tiny_mlm_dir), *AUGMENT]
    assert cli_main(["client", "augment", *args, "--output", str(tmp_path / "x.tsv"), "--no-wait"]) == 0
    job_id = capsys.readouterr().out.strip()
    assert job_id.startswith("job_") and not (tmp_path / "x.tsv").exists()
    assert cli_main(["client", "wait", job_id]) == 0
    assert capsys.readouterr().out.strip() == f"{job_id} succeeded"
    assert cli_main(["client", "status", job_id]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "succeeded"
    assert cli_main(["client", "jobs", "--status", "succeeded"]) == 0
    assert job_id in capsys.readouterr().out
    assert cli_main(["client", "download", job_id, "--output", str(tmp_path / "got.tsv")]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "got.tsv")
    assert (tmp_path / "got.tsv").read_bytes().startswith(b"\xef\xbb\xbfQuality")  # the input's format, BOM kept

    queued = JobStore(connect(redis_url)).create(job_type="distillation", team="team-a", params={}, unit="steps")
    assert cli_main(["client", "cancel", queued]) == 0
    assert capsys.readouterr().out.strip() == f"{queued} cancelled"
    assert cli_main(["client", "wait", queued]) == 3  # the outcome decides the exit code
    assert capsys.readouterr().err.strip().endswith(f"job {queued} cancelled")

    # the server's 4xx detail, as it came, with exit code 2
    assert cli_main(["client", "status", "job_nope"]) == 2
    assert capsys.readouterr().err.strip() == "distillery client: error: 404: job 'job_nope' not found"
    assert cli_main(["client", "jobs", "--key", "wrong"]) == 2
    assert capsys.readouterr().err.strip() == "distillery client: error: 401: unknown API key"
    bad = tmp_path / "bad.tsv"
    bad.write_text("sentence\tlabel\nok\t1\nno label here\n")
    assert cli_main(["client", "upload", str(bad), "--task", "sst-2"]) == 2
    assert "line 3, row 2: expected 2 tab-separated fields, found 1" in capsys.readouterr().err
    assert cli_main(["client", "jobs", "--url", "http://127.0.0.1:9"]) == 1
    assert "cannot reach http://127.0.0.1:9" in capsys.readouterr().err


def test_client_pipeline_downloads_the_student(
    server, env, tmp_path, synth_glue_dir, tiny_mlm_dir, start_workers, capsys
) -> None:
    start_workers(1, env, queue="distill")
    start_workers(1, env, queue="augment")
    train = glue_sample(synth_glue_dir, "RTE", "train", 12, tmp_path / "train.tsv")
    dev = glue_sample(synth_glue_dir, "RTE", "dev", 8, tmp_path / "dev.tsv")
    distill = {"student": TINY_STUDENT, "stage1_epochs": 1, "stage2_epochs": 1, "batch_size": 4, "max_seq_len": 48}
    distill["allow_weak_teacher"] = True  # a random teacher
    augment = {"n": 2, "k": 3, "mlm_model": str(tiny_mlm_dir), "shard_rows": 4}
    code = cli_main(
        ["client", "pipeline", "--task", "rte", "--train", str(train), "--dev", str(dev), "--output", str(tmp_path / "student")]
        + ["--teacher", str(rte_teacher(tmp_path / "teacher")), "--augment", json.dumps(augment), "--distill", json.dumps(distill)]
    )  # fmt: skip
    out = capsys.readouterr()
    assert code == 0, out.err
    assert {"config.json", "report.json", "tokenizer.json"} <= {
        p.name for p in (tmp_path / "student" / "model").iterdir()
    }
    assert "student ->" in out.out and "accuracy" in out.out
