"""Edge cases of the dataset reader/writer found in review: each one a file a user can really send."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from shared.dataset_io import DatasetError, format_header, format_rows, parse_table, read_table, resolve_spec


def _round_trip(data: bytes, fmt: str) -> tuple[str, list[list[str]]]:
    table = parse_table(data, fmt)  # type: ignore[arg-type]
    text = format_header(table) + format_rows(table, table.rows)
    return text, parse_table(text.encode(), fmt).rows  # type: ignore[arg-type]


def test_csv_cell_with_a_carriage_return_is_quoted_and_round_trips() -> None:
    text, rows = _round_trip(b'text\n"one\rtwo"\n', "csv")
    assert text == 'text\n"one\rtwo"\n' and rows == [["one\rtwo"]]
    text, rows = _round_trip(b'a,b\n"x\r\ny",1\n"\r",2\n', "csv")
    assert rows == [["x\r\ny", "1"], ["\r", "2"]]


def test_csv_rows_without_a_carriage_return_keep_their_bytes() -> None:
    """Augmentation output is byte-identical across versions: only cells holding "\\r" are written differently."""
    rows = [["plain", "1"], ["x, y", ""], ['say "hi"', "0"], ["a\nb", " sp"], [""], ["é", "\t"]]
    table = parse_table(b"a,b\nx,y\n", "csv")
    old = io.StringIO()
    csv.writer(old, lineterminator="\n").writerows(rows)
    assert format_rows(table, rows) == old.getvalue()


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b'{"text": "a", "label": ' + b"9" * 5000 + b"}", "line 2, row 2: invalid JSON: Exceeds the limit"),
        (b"[" * 200_000, "line 2, row 2: invalid JSON: nested too deeply"),
        (b'{"text": [' * 5000 + b"1" + b"]}" * 5000, "line 2, row 2: invalid JSON: nested too deeply"),
        (b'{"text": "a", "label": 1', "line 2, row 2: invalid JSON: Expecting ',' delimiter (character 25)"),
    ],
)
def test_jsonl_lines_json_cannot_read_are_dataset_errors(line: bytes, expected: str) -> None:
    with pytest.raises(DatasetError) as info:
        parse_table(b'{"text": "ok", "label": 1}\n' + line + b"\n", "jsonl", name="d.jsonl")
    assert str(info.value).startswith("d.jsonl: " + expected)


@pytest.mark.parametrize(
    ("data", "fmt", "line"),
    [
        (b"sentence1\tsentence2\tscore\na\tb\t1.5\nc\td\tnan\n", "tsv", 3),
        (b"sentence1\tsentence2\tscore\r\na\tb\tinf\r\n", "tsv", 2),
        (b"sentence1,sentence2,score\na,b,2\n\nc,d,-inf\n", "csv", 4),
        (
            b'{"sentence1": "a", "sentence2": "b", "score": 1}\n{"sentence1": "c", "sentence2": "d", "score": NaN}\n',
            "jsonl",
            2,
        ),
        (b'{"sentence1": "a", "sentence2": "b", "score": 1e400}\n', "jsonl", 1),
        (b'{"sentence1": "a", "sentence2": "b", "score": "-Infinity"}\n', "jsonl", 1),
    ],
)
def test_non_finite_regression_labels_are_refused(data: bytes, fmt: str, line: int) -> None:
    table = parse_table(data, fmt, name="stsb")  # type: ignore[arg-type]
    with pytest.raises(DatasetError, match="is not a finite number") as info:
        resolve_spec(table, task="sts-b", name="stsb")
    assert (info.value.line, info.value.row, info.value.column) == (line, len(table.rows), "score")


def test_a_score_too_large_for_a_float_is_a_dataset_error() -> None:
    table = parse_table(b'{"sentence1": "a", "sentence2": "b", "score": ' + b"1" * 400 + b"}\n", "jsonl")
    with pytest.raises(DatasetError, match=r"line 1, row 1, column 'score': label 1111.*\.\.\. is not a number"):
        resolve_spec(table, task="sts-b")


def test_jsonl_lone_surrogate_escapes_are_refused_naming_line_row_column() -> None:
    data = b'{"text": "fine \\ud83d\\ude00", "label": "1"}\n{"text": "good \\ud800 movie", "label": "1"}\n'
    with pytest.raises(DatasetError) as info:
        parse_table(data, "jsonl", name="s.jsonl")
    assert (info.value.line, info.value.row, info.value.column) == (2, 2, "text")
    assert "lone surrogate" in str(info.value)
    with pytest.raises(DatasetError) as info:
        parse_table(b'{"te\\udc00xt": "a"}\n', "jsonl")
    assert info.value.column == "te\\udc00xt" and str(info.value).encode("utf-8")  # the message itself is UTF-8
    with pytest.raises(DatasetError, match="column 'meta'"):
        parse_table(b'{"text": "a", "meta": {"k": ["x", "\\udfff"]}}\n', "jsonl")
    assert parse_table(b'{"text": "a path C:\\\\udir"}\n', "jsonl").rows == [["a path C:\\udir"]]


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("cola.csv", b"source,label,label_notes,sentence\ngj04,1,,Our friends won't buy this analysis.\n"),
        ("cola.csv", b'\xef\xbb\xbf"source","label","label_notes","sentence"\r\ngj04,1,,"Yes, really."\r\n'),
        ("cola.tsv", b"source\tlabel\tlabel_notes\tsentence\r\ngj04\t1\t\tOur friends won't buy this.\r\n"),
    ],
)
def test_cola_header_is_found_in_csv_and_crlf_files(tmp_path: Path, name: str, data: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    table = read_table(path, task="cola")
    assert table.has_header and len(table.rows) == 1 and table.rows[0][1] == "1"
    assert resolve_spec(table, task="cola").text_columns == ("sentence",)


def test_cola_without_header_still_gets_its_columns(tmp_path: Path) -> None:
    (tmp_path / "cola.tsv").write_bytes(b"gj04\t1\t\tOur friends won't buy this.\r\ngj04\t0\t*\tThey drank.\r\n")
    (tmp_path / "cola.csv").write_bytes(b'gj04,1,,"Yes, really."\n')
    for path in (tmp_path / "cola.tsv", tmp_path / "cola.csv"):
        table = read_table(path, task="cola")
        assert not table.has_header and table.columns == ["source", "label", "label_notes", "sentence"]
        resolve_spec(table, task="cola")


@pytest.mark.parametrize(
    ("data", "fmt", "rows", "lines"),
    [
        (b"text\none\ntwo\n\n\n", "tsv", [["one"], ["two"]], [2, 3]),
        (b"sentence\tlabel\nok\t1\n\nfine\t0\n\n", "tsv", [["ok", "1"], ["fine", "0"]], [2, 4]),
        (b"sentence\tlabel\r\nok\t1\r\n\r\n", "tsv", [["ok", "1"]], [2]),
        (b"sentence\tlabel\n\t\n", "tsv", [["", ""]], [2]),  # a tab: a row of empty fields, not a blank line
        (b"text\none\n\n\n", "csv", [["one"]], [2]),
        (b'a,b\n\n"x\ny",1\r\n\r\nz,2\n\n', "csv", [["x\ny", "1"], ["z", "2"]], [4, 6]),
        (b'text\none\n""\ntwo\n', "csv", [["one"], [""], ["two"]], [2, 3, 4]),  # "" is a deliberately empty cell
    ],
)
def test_blank_lines_in_tsv_and_csv_are_skipped(data: bytes, fmt: str, rows: list, lines: list) -> None:
    table = parse_table(data, fmt)  # type: ignore[arg-type]
    assert (table.rows, table.lines) == (rows, lines)


@pytest.mark.parametrize(
    ("data", "fmt", "expected"),
    [
        (b"sentence\tlabel\nok\t1\n\n\nragged\n", "tsv", "line 5, row 2: expected 2 tab-separated fields"),
        (b"a,b\n\n1,2\n\n3\n", "csv", "line 5, row 2: expected 2 comma-separated fields"),
        (b"sentence\tlabel\n\n\n", "tsv", "a header but no data rows"),
        (b"sentence\tlabel\nok\t1\n\nbad\t7\n", "tsv", "line 4, row 2, column 'label'"),
    ],
)
def test_errors_after_blank_lines_name_the_right_line(data: bytes, fmt: str, expected: str) -> None:
    with pytest.raises(DatasetError, match=expected):
        table = parse_table(data, fmt)  # type: ignore[arg-type]
        resolve_spec(table, task="sst-2")


def test_csv_accepts_cells_as_large_as_tsv_does() -> None:
    big = "word " * 60_000  # 300,000 characters: over csv's default 131,072 field limit
    for data, fmt in ((f"text,label\n{big},1\n", "csv"), (f"text\tlabel\n{big}\t1\n", "tsv")):
        assert parse_table(data.encode(), fmt).rows == [[big, "1"]]  # type: ignore[arg-type]


def test_a_json_boolean_is_no_regression_label() -> None:
    table = parse_table(b'{"sentence1": "a", "sentence2": "b", "score": true}\n', "jsonl")
    with pytest.raises(DatasetError, match="label True is not a number"):
        resolve_spec(table, task="sts-b")
