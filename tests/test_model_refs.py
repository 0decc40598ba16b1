"""shared.model_refs: a mistyped local folder is named as such, hub ids and existing folders pass."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.model_refs import looks_like_local_path, missing_local_model


@pytest.mark.parametrize("ref", ["./teacher", "/abs/model", "~/models/m", "runs/a/teacher", "C:\\models\\m", "../x"])
def test_paths_are_recognised(ref: str) -> None:
    assert looks_like_local_path(ref)


@pytest.mark.parametrize("ref", ["bert-base-uncased", "huawei-noah/TinyBERT_General_4L_312D"])
def test_hub_ids_are_not_paths(ref: str) -> None:
    assert not looks_like_local_path(ref)
    assert missing_local_model(ref) is None


def test_missing_folder_gets_a_message_and_an_existing_one_none(tmp_path: Path) -> None:
    message = missing_local_model(str(tmp_path / "no" / "such"))
    assert message is not None and "no such folder" in message and str(tmp_path / "no" / "such") in message
    assert missing_local_model(str(tmp_path)) is None
