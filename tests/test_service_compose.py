"""docker-compose.yml: validated by `docker compose config` where the compose client exists, plus a
structural check with PyYAML that runs everywhere."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.conftest import REPO_ROOT

COMPOSE = REPO_ROOT / "docker-compose.yml"


def test_compose_file_structure() -> None:
    yaml = pytest.importorskip("yaml")
    doc = yaml.safe_load(COMPOSE.read_text())
    services = doc["services"]
    assert set(services) == {"redis", "api", "augment-worker", "distill-worker"}
    assert "--appendonly" in services["redis"]["command"] and "redis-data:/data" in services["redis"]["volumes"]
    for name in ("api", "augment-worker", "distill-worker"):  # merged from the shared anchor
        assert services[name]["environment"]["DISTILLERY_REDIS_URL"] == "redis://redis:6379/0"
        assert "distillery-data:/data" in services[name]["volumes"]
    assert services["augment-worker"]["deploy"]["replicas"] >= 2
    assert services["augment-worker"]["command"][-2:] == ["--queue", "augment"]
    gpu = services["distill-worker"]["deploy"]["resources"]["reservations"]["devices"][0]
    assert gpu["capabilities"] == ["gpu"]
    assert set(doc["volumes"]) == {"distillery-data", "redis-data"}
    assert (REPO_ROOT / "Dockerfile").is_file()


def test_docker_compose_config_accepts_the_file() -> None:
    if shutil.which("docker") is None:
        pytest.skip("no docker client")
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"`docker compose` is unavailable: {probe.stderr.strip() or probe.stdout.strip()}")
    done = subprocess.run(
        ["docker", "compose", "-f", str(COMPOSE), "config", "--quiet"],
        capture_output=True, text=True, env={"DISTILLERY_API_KEYS": "team:key", "PATH": "/usr/bin:/usr/local/bin"},
    )
    assert done.returncode == 0, done.stderr
