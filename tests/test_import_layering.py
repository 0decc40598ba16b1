"""The layering rules as tests: shared/ <- workers/ <- services/, and the API process loads no torch.

The API answers HTTP and enqueues jobs; torch and transformers (seconds of import time, hundreds of MiB) belong
to the worker processes only. Imports are checked two ways: by importing in a fresh interpreter (what
really gets loaded, lazy imports excepted) and by parsing every module (every import statement, lazy ones
included).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

HEAVY = ("torch", "transformers")

#: Printed by the child: which of the watched top-level packages ended up in sys.modules.
PROBE = """
import importlib, json, pkgutil, sys
import shared
for module in sys.argv[2:]:
    importlib.import_module(module)
if sys.argv[1] == "with-shared":
    for info in pkgutil.walk_packages(shared.__path__, "shared."):
        importlib.import_module(info.name)
watched = ("torch", "transformers", "fastapi")
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules} & set(watched))))
"""


def loaded_after_import(*modules: str, with_shared: bool = True) -> set[str]:
    """Which of torch, transformers, fastapi a fresh interpreter holds after importing ``modules``
    (and every module of shared/ when ``with_shared``)."""
    mode = "with-shared" if with_shared else "alone"
    done = subprocess.run(
        [sys.executable, "-c", PROBE, mode, *modules], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_api_app_and_shared_load_neither_torch_nor_transformers() -> None:
    loaded = loaded_after_import("services.api.app")
    assert not loaded & set(HEAVY), f"importing the API (and shared/) loaded {sorted(loaded & set(HEAVY))}"


def test_shared_loads_neither_torch_nor_fastapi() -> None:
    loaded = loaded_after_import()
    assert not loaded, f"importing shared/ loaded {sorted(loaded)}"


def test_job_orchestration_loads_neither_torch_nor_fastapi() -> None:
    """The API and the distill worker both call it: no engine and no web framework at import time."""
    modules = ("workers.orchestration.submit", "workers.orchestration.pipelines", "workers.orchestration.children")
    loaded = loaded_after_import(*modules, with_shared=False)
    assert not loaded, f"importing the job orchestration loaded {sorted(loaded)}"


def test_the_probe_sees_torch_when_it_is_imported() -> None:
    """The check above can fail: a worker engine module does bring torch in."""
    assert "torch" in loaded_after_import("workers.augment.glove", with_shared=False)


def imported_packages(path: Path) -> set[str]:
    """Top-level package of every absolute import in a module, at any depth (function-level ones included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def relative_imports(path: Path) -> list[int]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return [node.lineno for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level > 0]


@pytest.mark.parametrize(
    ("layer", "forbidden"), [("shared", {"workers", "services"}), ("workers", {"services"})], ids=["shared", "workers"]
)
def test_no_import_points_up(layer: str, forbidden: set[str]) -> None:
    modules = sorted((REPO_ROOT / layer).rglob("*.py"))
    assert modules, f"no modules found under {layer}/"
    upward = {
        str(path.relative_to(REPO_ROOT)): sorted(imported_packages(path) & forbidden)
        for path in modules
        if imported_packages(path) & forbidden
    }
    assert not upward, f"{layer}/ must not import from {sorted(forbidden)}: {upward}"
    # A relative import could climb out of the package unseen by the check above; the project uses none.
    relative = {str(p.relative_to(REPO_ROOT)): relative_imports(p) for p in modules if relative_imports(p)}
    assert not relative, f"use absolute imports: {relative}"


def test_the_parser_sees_lazy_imports(tmp_path: Path) -> None:
    """The check above can fail: an import inside a function is found too."""
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from services.api import app\n    import workers.augment.engine\n")
    assert imported_packages(module) == {"services", "workers"}
