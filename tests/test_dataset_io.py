from __future__ import annotations

from pathlib import Path

import pytest

from shared.dataset_io import (
    DatasetError,
    DatasetSpec,
    format_header,
    format_rows,
    parse_table,
    read_table,
    resolve_spec,
    write_table,
)


def test_reads_mrpc_with_bom_and_keeps_it(glue_dir: Path, tmp_path: Path) -> None:
    src = glue_dir / "MRPC" / "dev.tsv"
    table = read_table(src)
    assert table.bom and table.columns[0] == "Quality"
    spec = resolve_spec(table, task="mrpc")
    assert spec.text_columns == ("#1 String", "#2 String") and spec.label_column == "Quality"
    out = tmp_path / "copy.tsv"
    write_table(table, out)
    assert out.read_bytes().replace(b"\r\n", b"\n") == src.read_bytes().replace(b"\r\n", b"\n")


@pytest.mark.parametrize("task", ["sst-2", "rte", "sts-b", "mrpc"])
def test_every_glue_file_validates(glue_dir: Path, task: str) -> None:
    folder = {"sst-2": "SST-2", "rte": "RTE", "sts-b": "STS-B", "mrpc": "MRPC"}[task]
    table = read_table(glue_dir / folder / "dev.tsv", task=task)
    assert len(table.rows) > 100
    resolve_spec(table, task=task)


def test_shards_concatenate_to_the_whole_file() -> None:
    table = parse_table(b'a,b\n"x, y",1\nz,2\nw,3\n', "csv")
    whole = format_header(table) + format_rows(table, table.rows)
    pieces = format_header(table) + format_rows(table, table.rows[:1]) + format_rows(table, table.rows[1:])
    assert whole == pieces == 'a,b\n"x, y",1\nz,2\nw,3\n'


def test_jsonl_round_trip_keeps_types() -> None:
    table = parse_table(b'{"text": "caf\xc3\xa9", "label": 1}\n{"text": "b", "label": 0}\n', "jsonl")
    assert table.rows == [["café", 1], ["b", 0]]
    assert format_rows(table, table.rows) == '{"text": "café", "label": 1}\n{"text": "b", "label": 0}\n'


@pytest.mark.parametrize(
    ("data", "fmt", "expected"),
    [
        (b"", "tsv", "the file is empty"),
        (b"sentence\tlabel\n", "tsv", "no data rows"),
        (b"sentence\tlabel\nok\t1\nragged\n", "tsv", "line 3, row 2: expected 2 tab-separated fields, found 1"),
        (b"sentence\tlabel\n\xff\xfe\t1\n", "tsv", "line 2: not valid UTF-8"),
        (b"a,b\n1,2,3\n", "csv", "line 2, row 1: expected 2 comma-separated fields, found 3"),
        (b'{"a": 1}\n{"b": 2}\n', "jsonl", "line 2, row 2, column 'a': missing field"),
        (b'{"a": 1}\nnot json\n', "jsonl", "line 2, row 2: invalid JSON"),
        (b"a\ta\n1\t2\n", "tsv", "column 'a': duplicate column name"),
    ],
)
def test_bad_files_name_where(data: bytes, fmt: str, expected: str) -> None:
    with pytest.raises(DatasetError) as info:
        parse_table(data, fmt, name="f.x")  # type: ignore[arg-type]
    assert expected in str(info.value) and str(info.value).startswith("f.x: ")


def test_spec_errors_name_the_column() -> None:
    table = parse_table(b"sentence\tlabel\nfine\t1\nbad\tmaybe\n", "tsv")
    with pytest.raises(DatasetError, match="row 2, column 'label': label 'maybe' is not one of"):
        resolve_spec(table, task="sst-2")
    with pytest.raises(DatasetError, match="column 'text': column not found"):
        resolve_spec(table, text_columns=["text"])
    with pytest.raises(ValueError, match="unknown task 'sst-3'"):
        resolve_spec(table, task="sst-3")
    spec = resolve_spec(table, text_columns=["sentence"], label_column="label")
    assert spec.text_columns == ("sentence",) and spec.task is None


def test_unknown_suffix_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="cannot tell the format"):
        read_table(tmp_path / "x.parquet")
    with pytest.raises(DatasetError, match="no such file"):
        read_table(tmp_path / "x.tsv")


def test_a_txt_file_is_plain_text_one_passage_per_line(tmp_path: Path) -> None:
    path = tmp_path / "corpus.txt"
    path.write_bytes(b"first passage\n\nsecond\twith a tab\r\n")
    table = read_table(path)
    assert (table.format, table.columns, table.rows, table.lines) == (
        "text",
        ["text"],
        [["first passage"], ["second\twith a tab"]],
        [1, 3],
    )
    assert resolve_spec(table, task="sst-2") == DatasetSpec(("text",), None, "sst-2")  # unlabelled, any task
    out = tmp_path / "copy.txt"
    write_table(table, out)
    assert out.read_text() == "first passage\nsecond\twith a tab\n"
    (tmp_path / "blank.txt").write_text("\n \n")
    with pytest.raises(DatasetError, match="empty"):
        read_table(tmp_path / "blank.txt")
