"""A worker's device is checked at start-up and its threads capped before any job runs."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from tests.conftest import REPO_ROOT
from workers.device_setup import DeviceUnavailable, check_device, thread_env


def test_devices_that_exist_pass_and_missing_gpus_are_named() -> None:
    assert check_device("auto") == "auto" and check_device("cpu") == "cpu"
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    with pytest.raises(DeviceUnavailable, match=f"'cuda:{count}' asked for"):
        check_device(f"cuda:{count}")
    with pytest.raises(DeviceUnavailable, match="unknown device 'gpu0'"):
        check_device("gpu0")
    with pytest.raises(DeviceUnavailable, match="unsupported device 'meta'"):
        check_device("meta")


def test_thread_env_caps_every_native_pool() -> None:
    assert thread_env(2) == {"OMP_NUM_THREADS": "2", "OPENBLAS_NUM_THREADS": "2", "MKL_NUM_THREADS": "2"}


def test_a_worker_process_runs_torch_on_its_thread_budget(tmp_path) -> None:
    code = (
        "from workers.device_setup import apply_threads; import os, torch;"
        "n = apply_threads(None if os.environ.get('N') == 'none' else int(os.environ['N']));"
        "print(n, torch.get_num_threads(), os.environ.get('OPENBLAS_NUM_THREADS'))"
    )
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO_ROOT), "N": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["1", "1", "1"]
    with pytest.raises(subprocess.CalledProcessError):
        subprocess.run([sys.executable, "-c", code], env={**env, "N": "0"}, capture_output=True, check=True)


def test_distillery_worker_refuses_a_gpu_the_machine_lacks_at_start_up() -> None:
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO_ROOT), "DISTILLERY_REDIS_URL": "redis://127.0.0.1:1/0"}
    cmd = [sys.executable, "-m", "services.cli.main", "worker", "--queue", "distill", "--device", f"cuda:{count}"]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert f"distillery worker: device 'cuda:{count}' asked for" in out.stderr


def test_cuda_attention_leaves_cudnn_out_unless_the_setting_asks(monkeypatch: pytest.MonkeyPatch) -> None:
    """cuDNN's attention builds a plan per new shape (15.3 s vs 1.1 s for an MLM pass on an H200): off on CUDA
    by default, on when the setting says so, and the CPU leaves torch's flag alone."""
    from shared.settings import get_settings
    from workers.device_setup import configure_cuda_attention

    before = torch.backends.cuda.cudnn_sdp_enabled()
    try:
        torch.backends.cuda.enable_cudnn_sdp(True)
        configure_cuda_attention("cpu")
        assert torch.backends.cuda.cudnn_sdp_enabled()
        configure_cuda_attention(torch.device("cuda:0"))  # sets torch's flag only: no GPU needed
        assert not torch.backends.cuda.cudnn_sdp_enabled()
        monkeypatch.setenv("DISTILLERY_CUDA_CUDNN_ATTENTION", "true")
        get_settings.cache_clear()
        configure_cuda_attention("cuda")
        assert torch.backends.cuda.cudnn_sdp_enabled()
    finally:
        torch.backends.cuda.enable_cudnn_sdp(before)
        monkeypatch.delenv("DISTILLERY_CUDA_CUDNN_ATTENTION", raising=False)
        get_settings.cache_clear()
