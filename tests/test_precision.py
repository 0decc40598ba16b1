"""Precision selection: the CPU-flag detection and its override, auto/fp32/bf16 on a device with and without
bf16, and an unsupported explicit bf16 refused at each door (resolver, CLI exit 2, HTTP 422)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from services.cli.main import main
from shared.precision import BF16_CPU_FLAGS, cpu_bf16_support, cpu_flags, submission_problem
from shared.settings import Settings
from tests.distill_helpers import minilm_path
from tests.service_helpers import AUTH_A, SST2_SAMPLE, make_client, upload
from workers.precision import PrecisionError, resolve_precision

CPU = torch.device("cpu")


def test_detection_reads_the_cpu_flags_and_can_be_forced() -> None:
    text = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    flags_line = next((line for line in text.splitlines() if line.startswith("flags")), "")
    has = any(flag in flags_line.split() for flag in BF16_CPU_FLAGS)
    supported, why = cpu_bf16_support("auto")
    assert supported == has and supported == bool(set(BF16_CPU_FLAGS) & cpu_flags())
    assert ("CPU flags" in why) == has
    assert cpu_bf16_support("on")[0] is True and cpu_bf16_support("off")[0] is False
    assert "DISTILLERY_BF16_DETECT=off" in cpu_bf16_support("off")[1]


def test_auto_picks_bf16_only_where_the_device_has_it() -> None:
    with_bf16 = resolve_precision("auto", CPU, "on")
    without = resolve_precision("auto", CPU, "off")
    assert with_bf16.precision == "bf16" and with_bf16.bf16 and with_bf16.reason.startswith("auto: cpu supports bf16")
    assert without.precision == "fp32" and not without.bf16 and "no bf16 support" in without.reason
    assert resolve_precision("fp32", CPU, "on").model_dump() == {"precision": "fp32", "reason": "fp32 asked for"}
    assert resolve_precision("bf16", CPU, "on").precision == "bf16"
    detected = resolve_precision("auto", CPU, "auto")
    assert detected.bf16 == cpu_bf16_support("auto")[0]  # not assumed: what the flags say


def test_explicit_bf16_without_support_is_an_error_naming_the_device() -> None:
    with pytest.raises(PrecisionError, match="bf16 asked for, but device cpu has no bf16 support"):
        resolve_precision("bf16", CPU, "off")
    with pytest.raises(ValueError):
        resolve_precision("fp16", CPU, "on")


def test_the_api_refuses_bf16_only_when_the_workers_are_cpu_pinned_without_it() -> None:
    pinned = Settings(device="cpu", bf16_detect="off")
    assert "device cpu has no bf16 support" in (submission_problem("bf16", pinned) or "")
    assert submission_problem("auto", pinned) is None and submission_problem("fp32", pinned) is None
    assert submission_problem("bf16", Settings(device="auto", bf16_detect="off")) is None  # a GPU worker may
    assert submission_problem("bf16", Settings(device="cpu", bf16_detect="on")) is None


def test_http_422_for_bf16_on_cpu_workers_without_it(redis_url: str, tmp_path: Path, tiny_mlm_dir: Path) -> None:
    with make_client(redis_url, tmp_path / "data", device="cpu", bf16_detect="off") as client:
        dataset = upload(client, "sst2.tsv", SST2_SAMPLE.encode(), task="sst-2").json()
        mlm = str(tiny_mlm_dir)  # under the test model roots, so only the precision is at fault
        bodies = {
            "/v1/augmentations": {"dataset_id": dataset["id"], "mlm_model": mlm},
            "/v1/finetunes": {"dataset_id": dataset["id"], "model": mlm},
        }
        for path, body in bodies.items():
            r = client.post(path, headers=AUTH_A, json={**body, "precision": "bf16"})
            assert r.status_code == 422 and "field 'precision'" in r.text and "device cpu" in r.text, r.text
        pipeline = {"dataset_id": dataset["id"], "base_model": mlm}
        for part in ("augment", "finetune", "distill"):  # each child of a pipeline is checked too
            r = client.post("/v1/pipelines", headers=AUTH_A, json={**pipeline, part: {"precision": "bf16"}})
            assert r.status_code == 422 and "field 'precision'" in r.text, (part, r.text)
        augment = bodies["/v1/augmentations"]
        r = client.post("/v1/augmentations", headers=AUTH_A, json={**augment, "precision": "fp16"})
        assert r.status_code == 422 and "precision" in r.text
        r = client.post("/v1/augmentations", headers=AUTH_A, json={**augment, "precision": "fp32"})
        assert r.status_code == 202 and r.json()["params"]["precision"] == "fp32"
        assert client.get("/v1/jobs", headers=AUTH_A).json()["total"] == 1  # the refused ones left no job


def test_cli_exits_2_for_bf16_without_support(
    bf16_detect: Callable[[str], None], tmp_path: Path, tiny_mlm_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bf16_detect("off")
    data = tmp_path / "in.tsv"
    data.write_text(SST2_SAMPLE)
    common = ["--device", "cpu", "--precision", "bf16"]
    augment = ["augment", "--input", str(data), "--output", str(tmp_path / "o.tsv"), "--task", "sst-2"]
    train = ["--train", str(data), "--task", "sst-2", "--output", str(tmp_path / "m")]
    for argv in (
        [*augment, "--mlm-model", str(tiny_mlm_dir), *common],
        ["finetune", "--model", minilm_path(), *train, *common],
        ["distill", "--teacher", minilm_path(), *train, *common],
    ):
        assert main(argv) == 2, argv[0]
        err = capsys.readouterr().err
        assert "bf16 asked for, but device cpu has no bf16 support" in err and "Traceback" not in err, err
    assert not (tmp_path / "o.tsv").exists() and not (tmp_path / "m" / "report.json").exists()
