"""bench/gpu_quality_carry.py and bench/gpu_quality.sh: a quality run on a lent GPU machine. What runs without
a GPU is tested here: the augmented rows made on the CPU are the ones the GPU run looks for, parts received one
call at a time join into the original bytes, and a usage error."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.conftest import GLUE_DIR, REPO_ROOT, skip_without


def run_script(*args: str, gq: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GQ": str(gq)}
    return subprocess.run(
        ["bash", "bench/gpu_quality.sh", *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_parts_received_in_separate_calls_join_into_the_original_bytes(tmp_path: Path) -> None:
    original = os.urandom(3000)
    for number, start in ((1, 0), (2, 1200)):
        folder = tmp_path / f"{number:02d}"
        folder.mkdir()
        (folder / f"part-{number:02d}").write_bytes(original[start : start + 1200] if number == 1 else original[start:])
        done = run_script("receive", str(folder), gq=tmp_path / "gq")
        assert done.returncode == 0, done.stderr
    parts = sorted((tmp_path / "gq" / "parts").iterdir())
    assert [p.name for p in parts] == ["part-01", "part-02"]
    assert b"".join(p.read_bytes() for p in parts) == original


def test_an_unknown_command_prints_the_usage_and_exits_2(tmp_path: Path) -> None:
    done = run_script("unpack", gq=tmp_path / "gq")
    assert done.returncode == 2
    assert "receive DIR" in done.stdout and "run OUT [PROFILE]" in done.stdout and "rows FROM PROFILE" in done.stdout


def test_a_seed_variant_gets_the_carried_rows_once(tmp_path: Path) -> None:
    """`rows FROM PROFILE` (what GQ_ROWS_FROM does before a run) copies the student and augmented rows, not the
    teacher or students trained for FROM, and never overwrites a cache the variant already has."""
    source = tmp_path / "gq" / "x" / "cache" / "base" / "sst-2"
    (source / "teacher").mkdir(parents=True)
    for name in ("student_train_16.tsv", "aug_n2_student_train_16.tsv", "aug_n2_student_train_16.json"):
        (source / name).write_text(name)
    done = run_script("rows", "base", "base-s44", gq=tmp_path / "gq")
    assert done.returncode == 0, done.stderr
    target = tmp_path / "gq" / "x" / "cache" / "base-s44" / "sst-2"
    assert sorted(p.name for p in target.iterdir()) == [
        "aug_n2_student_train_16.json",
        "aug_n2_student_train_16.tsv",
        "student_train_16.tsv",
    ]
    (source / "student_train_16.tsv").write_text("changed")
    again = run_script("rows", "base", "base-s44", gq=tmp_path / "gq")
    assert again.returncode == 0 and "rows kept" in again.stdout
    assert (target / "student_train_16.tsv").read_text() == "student_train_16.tsv"
    missing = run_script("rows", "nothing", "base-s45", gq=tmp_path / "gq")
    assert missing.returncode == 2 and "no cache for nothing" in missing.stderr


def test_rows_prepared_on_the_cpu_are_the_ones_a_gpu_profile_reuses(tmp_path: Path, tiny_mlm_dir: Path) -> None:
    """prepare_cache augments with device cpu under the GPU profile's own name and precision, so the run on the GPU
    (here: the same profile, device left as it is) finds the rows instead of making new ones."""
    from dataclasses import replace

    from bench.gpu_quality_carry import prepare_cache
    from bench.quality.profiles import SMOKE
    from bench.quality.students import ensure_augmented

    skip_without(GLUE_DIR, "../shared/data/glue")
    profile = replace(SMOKE, name="smoke-gpu-route", augment_precision="fp32")
    made = prepare_cache(profile, cache=tmp_path, glue=GLUE_DIR, mlm_model=tiny_mlm_dir)
    assert made["precision"]["precision"] == "fp32" and made["stats"]["rows_out"] > made["stats"]["rows_in"]
    rows = Path(made["path"])
    assert rows.parent == tmp_path / profile.name / "sst-2"
    written = rows.stat().st_mtime_ns
    source = tmp_path / profile.name / "sst-2" / f"student_train_{profile.sst2.student_rows}.tsv"
    again = ensure_augmented(profile, "sst-2", source, cache=str(tmp_path), mlm_model=str(tiny_mlm_dir))
    assert again == made and rows.stat().st_mtime_ns == written
