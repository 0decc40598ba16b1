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


def _compose_command() -> list[str] | None:
    """`docker compose` (v2 plugin) or the standalone `docker-compose`, whichever answers; None if neither."""
    for command in (["docker", "compose"], ["docker-compose"]):
        if shutil.which(command[0]) is None:
            continue
        if subprocess.run([*command, "version"], capture_output=True, text=True).returncode == 0:
            return command
    return None


def test_docker_compose_config_accepts_the_file() -> None:
    command = _compose_command()
    if command is None:
        pytest.skip("neither `docker compose` nor `docker-compose` is installed")
    done = subprocess.run(
        [*command, "-f", str(COMPOSE), "config", "--quiet"],
        capture_output=True,
        text=True,
        env={"DISTILLERY_API_KEYS": "team:key", "PATH": "/usr/bin:/usr/local/bin"},
    )
    assert done.returncode == 0, done.stderr
