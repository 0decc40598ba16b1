import pytest

from shared.tasks import UnknownTaskError, get_task


def test_aliases_resolve() -> None:
    assert get_task("SST-2").name == get_task("sst2").name == "sst-2"
    assert get_task("STS_B").is_regression and get_task("sts-b").num_labels == 1
    assert get_task("mnli").num_labels == 3 and get_task("rte").is_pair


def test_misspelt_task_is_refused() -> None:
    with pytest.raises(UnknownTaskError, match="known tasks: sst-2, mrpc"):
        get_task("mrcp")
