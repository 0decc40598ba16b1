"""shared.model_access: references over HTTP stay inside the operator's roots; hub ids only when allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.model_access import ModelAccess, ReferenceRefused
from shared.settings import BUILTIN_GLOVE, Settings


def _model_folder(path: Path, tokenizer: bool = True) -> Path:
    path.mkdir(parents=True)
    (path / "config.json").write_text("{}")
    if tokenizer:
        (path / "vocab.txt").write_text("[PAD]\n")
    return path


@pytest.fixture
def access(tmp_path: Path) -> ModelAccess:
    root = tmp_path / "root"
    _model_folder(root / "team" / "mlm")
    _model_folder(root / "student", tokenizer=False)
    (root / "vectors.txt").write_text("the 0.1 0.2\n")
    (tmp_path / "outside").mkdir()
    (root / "escape").symlink_to(tmp_path / "outside")
    return ModelAccess.from_settings(Settings(model_roots=str(root), data_dir=tmp_path / "data"))


def test_folders_under_a_root_are_resolved(access: ModelAccess, tmp_path: Path) -> None:
    root = (tmp_path / "root").resolve()
    assert access.model(str(root / "team" / "mlm"), "mlm_model") == str(root / "team" / "mlm")
    assert access.model("team/mlm", "mlm_model") == str(root / "team" / "mlm")  # relative to a root
    assert access.model("student", "student.checkpoint", needs_tokenizer=False) == str(root / "student")
    assert access.glove(BUILTIN_GLOVE) == BUILTIN_GLOVE
    assert access.glove(str(root / "vectors.txt")) == str(root / "vectors.txt")


@pytest.mark.parametrize(
    ("ref", "needle"),
    [
        ("/etc", "not under the model roots"),
        ("/root", "not under the model roots"),
        ("escape", "not under the model roots"),  # a symlink out of the root
        ("team/../../outside", "not under the model roots"),
        ("~/models", "not allowed"),
        ("./nothing/here", "does not exist under the model roots"),
        ("student", "no tokenizer files"),
        ("team", "no config.json"),
        ("bert-base-uncased", "DISTILLERY_ALLOW_HUB is off"),
    ],
)
def test_refused_models_name_the_field(access: ModelAccess, ref: str, needle: str) -> None:
    with pytest.raises(ReferenceRefused, match="field 'teacher'") as caught:
        access.model(ref, "teacher")
    assert needle in str(caught.value)


def test_glove_refuses_files_outside_the_roots_without_reading_them(access: ModelAccess) -> None:
    for ref in ("/etc/passwd", "/etc", "team/mlm"):
        with pytest.raises(ReferenceRefused, match="field 'glove'") as caught:
            access.glove(ref)
        assert "root:" not in str(caught.value)  # nothing of /etc/passwd's content


def test_hub_ids_only_when_allowed_and_reachable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    offline = ModelAccess.from_settings(Settings(allow_hub=True, data_dir=tmp_path))
    with pytest.raises(ReferenceRefused, match="hub is unreachable"):
        offline.model("owner/name", "mlm_model")
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    assert (
        ModelAccess.from_settings(Settings(allow_hub=True, data_dir=tmp_path)).model("owner/name", "x") == "owner/name"
    )


def test_job_folders_under_the_data_dir_are_private(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _model_folder(data / "jobs" / "job_1" / "model")
    _model_folder(data / "models" / "mine")
    access = ModelAccess.from_settings(Settings(model_roots=str(tmp_path), data_dir=data))
    with pytest.raises(ReferenceRefused, match="not under the model roots"):
        access.model(str(data / "jobs" / "job_1" / "model"), "teacher")
    default = ModelAccess.from_settings(Settings(data_dir=data))  # no roots set: <data_dir>/models
    assert default.model("mine", "teacher") == str((data / "models" / "mine").resolve())


def test_catalog_lists_models_and_vectors(access: ModelAccess, tmp_path: Path) -> None:
    catalog = access.catalog()
    refs = {m["ref"]: m["tokenizer"] for m in catalog["models"]}
    root = (tmp_path / "root").resolve()
    assert refs == {str(root / "team" / "mlm"): True, str(root / "student"): False}
    assert [g["ref"] for g in catalog["glove"]] == [BUILTIN_GLOVE, str(root / "vectors.txt")]
    assert catalog["hub"] == {"allowed": False}


@pytest.mark.parametrize("ref", ["x" * 300, "/".join(["abcdefgh"] * 600), "team/" + "y" * 300])
def test_a_path_too_long_for_the_file_system_is_refused_not_raised(access: ModelAccess, ref: str) -> None:
    """Path.exists() raises ENAMETOOLONG on such a name: a refusal naming the field (a 422), never a 500."""
    with pytest.raises(ReferenceRefused, match="field 'teacher'.*not a usable path"):
        access.model(ref, "teacher")
    with pytest.raises(ReferenceRefused, match="field 'glove'"):
        access.glove(ref)


@pytest.mark.parametrize("ref", ["o" * 97 + "/name", "-dash/name", "owner/na..me", "name with space"])
def test_a_name_no_root_holds_must_look_like_a_hub_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ref: str
) -> None:
    """With the hub allowed, a name that is no hub id was accepted and failed on the worker: now a refusal."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    access = ModelAccess.from_settings(Settings(allow_hub=True, data_dir=tmp_path))
    with pytest.raises(ReferenceRefused, match="field 'teacher'.*neither a folder under the model roots nor a hub id"):
        access.model(ref, "teacher")
    assert access.model("o" * 96 + "/bert-base_v2.1", "teacher") == "o" * 96 + "/bert-base_v2.1"
