"""Reading, validating and writing datasets (TSV, CSV, JSONL, and plain text: one passage per line).

One reader serves the CLI and the HTTP upload so both accept and refuse exactly the same files.
Errors name the file, the line/row and the column. Writers go through a temp file and a rename so a
crash never leaves half a file, and serialisation is split into header + rows so that shards written
separately and concatenated give the same bytes as one whole write.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from shared.atomic import atomic_write
from shared.tasks import TaskPreset, get_task

Format = Literal["tsv", "csv", "jsonl", "text"]
FORMATS: tuple[Format, ...] = ("tsv", "csv", "jsonl", "text")
_SUFFIXES: dict[str, Format] = {
    ".tsv": "tsv",
    ".txt": "text",
    ".text": "text",  # how the service stores an uploaded .txt (data.<format>)
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
#: The one column of a plain-text file (a corpus for general distillation: unlabelled passages).
TEXT_COLUMN = "text"
_BOM = "\ufeff"
# csv refuses cells over 128 KiB by default; TSV and JSONL have no such limit, so CSV must not either (the
# upload size limit bounds a cell). A C long: 2**31 - 1 where long is 32-bit.
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


class DatasetError(ValueError):
    """A dataset problem a user can fix; carries where it is (file, line, row, column)."""

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        row: int | None = None,
        column: str | None = None,
    ) -> None:
        self.message = message
        self.path = path
        self.line = line
        self.row = row
        self.column = column
        super().__init__(str(self))

    def __str__(self) -> str:
        where = []
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        prefix = f"{self.path}: " if self.path else ""
        return prefix + (", ".join(where) + ": " if where else "") + self.message

    def to_dict(self) -> dict[str, Any]:
        return {
            "message": self.message,
            "file": self.path,
            "line": self.line,
            "row": self.row,
            "column": self.column,
            "detail": str(self),
        }


@dataclass
class Table:
    """A whole dataset in memory: the header, the rows, and what is needed to write it back alike.

    ``rows[i]`` is data row ``i + 1`` (1-based in messages). TSV/CSV cells are strings; JSONL cells
    are whatever JSON value the file held.
    """

    columns: list[str]
    rows: list[list[Any]]
    format: Format
    has_header: bool = True
    bom: bool = False
    #: Source line of each data row (1-based), for error messages after parsing.
    lines: list[int] = field(default_factory=list, repr=False)

    def column_index(self, name: str) -> int:
        return self.columns.index(name)

    def with_rows(self, rows: list[list[Any]]) -> Table:
        """Same layout, other rows (an augmented copy, a shard)."""
        return Table(list(self.columns), rows, self.format, self.has_header, self.bom)


@dataclass(frozen=True)
class DatasetSpec:
    """Which columns are text and which is the label, resolved from a task or explicit names."""

    text_columns: tuple[str, ...]
    label_column: str | None
    task: str | None = None


def detect_format(path: str | os.PathLike[str], explicit: str | None = None) -> Format:
    """The format from an explicit name or the file suffix."""
    if explicit:
        fmt = explicit.lower().lstrip(".")
        if fmt == "json":
            fmt = "jsonl"
        if fmt not in FORMATS:
            raise DatasetError(f"unknown format {explicit!r}; use one of {', '.join(FORMATS)}", path=str(path))
        return fmt
    suffix = Path(path).suffix.lower()
    if suffix in _SUFFIXES:
        return _SUFFIXES[suffix]
    raise DatasetError(
        f"cannot tell the format from the suffix {suffix!r}; use .tsv, .csv, .jsonl or .txt", path=str(path)
    )


def _decode(data: bytes, name: str) -> tuple[str, bool]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise DatasetError(
            f"not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start})", path=name, line=line
        ) from None
    bom = text.startswith(_BOM)
    return (text[1:] if bom else text), bom


def _check_header(columns: list[str], name: str) -> None:
    if not columns or all(not c.strip() for c in columns):
        raise DatasetError("the header row is empty", path=name, line=1)
    seen: set[str] = set()
    for col in columns:
        if col in seen:
            raise DatasetError("duplicate column name in the header", path=name, line=1, column=col)
        seen.add(col)


def _split_lines(text: str) -> list[str]:
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [ln[:-1] if ln.endswith("\r") else ln for ln in lines]


def _parse_tsv(text: str, name: str, headerless: Sequence[str] | None) -> tuple[list[str], list[list[Any]], list[int]]:
    lines = _split_lines(text)
    if headerless is not None:
        columns, first = list(headerless), 0
    else:
        if not lines:
            raise DatasetError("the file is empty", path=name)
        columns, first = lines[0].split("\t"), 1
        _check_header(columns, name)
    rows: list[list[Any]] = []
    line_numbers: list[int] = []
    for i in range(first, len(lines)):
        if not lines[i]:  # a blank line (trailing newlines, separators) is no row; a tab makes empty fields
            continue
        fields = lines[i].split("\t")
        if len(fields) != len(columns):
            raise DatasetError(
                f"expected {len(columns)} tab-separated fields, found {len(fields)}",
                path=name,
                line=i + 1,
                row=len(rows) + 1,
            )
        rows.append(fields)
        line_numbers.append(i + 1)
    return columns, rows, line_numbers


def _parse_csv(text: str, name: str, headerless: Sequence[str] | None) -> tuple[list[str], list[list[Any]], list[int]]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[list[Any]] = []
    line_numbers: list[int] = []
    columns: list[str] | None = list(headerless) if headerless is not None else None
    try:
        for fields in reader:
            if columns is None:
                columns = fields
                _check_header(columns, name)
                continue
            if not fields:  # csv yields [] for a blank line: no row (a deliberately empty cell is written "")
                continue
            if len(fields) != len(columns):
                raise DatasetError(
                    f"expected {len(columns)} comma-separated fields, found {len(fields)}",
                    path=name,
                    line=reader.line_num,
                    row=len(rows) + 1,
                )
            rows.append(fields)
            line_numbers.append(reader.line_num)
    except csv.Error as exc:
        raise DatasetError(f"malformed CSV: {exc}", path=name, line=reader.line_num, row=len(rows) + 1) from None
    if columns is None:
        raise DatasetError("the file is empty", path=name)
    return columns, rows, line_numbers


def _parse_jsonl(text: str, name: str) -> tuple[list[str], list[list[Any]], list[int]]:
    columns: list[str] | None = None
    rows: list[list[Any]] = []
    line_numbers: list[int] = []
    for i, line in enumerate(_split_lines(text), start=1):
        if not line.strip():
            continue
        obj = _load_json_line(line, name, i, len(rows) + 1)
        if not isinstance(obj, dict):
            raise DatasetError("each line must be a JSON object", path=name, line=i, row=len(rows) + 1)
        if "\\u" in line:  # only a \u escape can make a lone surrogate: the decoded text is valid UTF-8
            _check_encodable(obj, name, i, len(rows) + 1)
        if columns is None:
            columns = list(obj)
            _check_header(columns, name)
        missing = [c for c in columns if c not in obj]
        if missing:
            raise DatasetError("missing field", path=name, line=i, row=len(rows) + 1, column=missing[0])
        extra = [c for c in obj if c not in columns]
        if extra:
            raise DatasetError(
                "field not present in the first row", path=name, line=i, row=len(rows) + 1, column=extra[0]
            )
        rows.append([obj[c] for c in columns])
        line_numbers.append(i)
    if columns is None:
        raise DatasetError("the file is empty", path=name)
    return columns, rows, line_numbers


def _load_json_line(line: str, name: str, line_no: int, row: int) -> Any:
    """json.loads, with every way it can fail (not only JSONDecodeError) turned into a DatasetError."""
    try:
        return json.loads(line)
    except json.JSONDecodeError as exc:
        message = f"invalid JSON: {exc.msg} (character {exc.colno})"
    except ValueError as exc:  # an integer longer than Python's digit limit (4300); drop its advice to call sys
        message = f"invalid JSON: {str(exc).split(';')[0]}"
    except RecursionError:
        message = "invalid JSON: nested too deeply"
    raise DatasetError(message, path=name, line=line_no, row=row)


def _check_encodable(obj: dict[str, Any], name: str, line: int, row: int) -> None:
    """Refuse lone surrogate escapes (``"\\ud800"``): valid JSON, but tokenizers and UTF-8 writes fail on them."""
    for key, value in obj.items():
        stack: list[Any] = [key, value]  # iterative: the value may be nested hundreds of levels deep
        while stack:
            item = stack.pop()
            if isinstance(item, dict):
                stack.extend(item)
                stack.extend(item.values())
            elif isinstance(item, list):
                stack.extend(item)
            elif isinstance(item, str) and not _is_utf8(item):
                raise DatasetError(
                    "a string holds a lone surrogate escape (\\ud800-\\udfff) that is not valid UTF-8",
                    path=name,
                    line=line,
                    row=row,
                    column=key.encode("utf-8", "backslashreplace").decode("utf-8"),  # printable, itself UTF-8
                )


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _parse_text(text: str) -> tuple[list[str], list[list[Any]], list[int]]:
    """One passage per line, no header; blank lines are skipped (they separate documents in many corpora)."""
    rows: list[list[Any]] = []
    line_numbers: list[int] = []
    for i, line in enumerate(_split_lines(text), start=1):
        if line.strip():
            rows.append([line])
            line_numbers.append(i)
    return [TEXT_COLUMN], rows, line_numbers


def parse_table(
    data: bytes,
    fmt: Format,
    *,
    name: str = "<upload>",
    headerless_columns: Sequence[str] | None = None,
) -> Table:
    """Parse a whole file's bytes. Raises DatasetError naming the line/row/column of the first problem."""
    if not data.strip(b"\xef\xbb\xbf \t\r\n"):
        raise DatasetError("the file is empty", path=name)
    text, bom = _decode(data, name)
    if fmt == "tsv":
        columns, rows, lines = _parse_tsv(text, name, headerless_columns)
    elif fmt == "csv":
        columns, rows, lines = _parse_csv(text, name, headerless_columns)
    elif fmt == "jsonl":
        columns, rows, lines = _parse_jsonl(text, name)
    else:
        columns, rows, lines = _parse_text(text)
    if not rows:
        what = "no passages (only blank lines)" if fmt == "text" else "a header but no data rows"
        raise DatasetError(f"the file has {what}", path=name)
    has_header = (headerless_columns is None or fmt == "jsonl") and fmt != "text"
    return Table(columns, rows, fmt, has_header=has_header, bom=bom, lines=lines)


def read_table(
    path: str | os.PathLike[str],
    fmt: str | None = None,
    *,
    task: str | None = None,
) -> Table:
    """Read a dataset file; ``task`` lets headerless GLUE files (CoLA) get their column names."""
    name = str(path)
    resolved = detect_format(path, fmt)
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise DatasetError("no such file", path=name) from None
    except IsADirectoryError:
        raise DatasetError("is a directory, not a file", path=name) from None
    headerless = None
    if task is not None:
        preset = get_task(task)
        if preset.headerless_columns and not _has_header_for(data, resolved, preset):
            headerless = preset.headerless_columns
    return parse_table(data, resolved, name=name, headerless_columns=headerless)


def _has_header_for(data: bytes, fmt: Format, preset: TaskPreset) -> bool:
    """Whether a file of a headerless task (CoLA) has a header anyway: its first record names a text column."""
    if fmt not in ("tsv", "csv"):
        return True  # JSONL names its fields; a text file never has a header
    return any(col in _first_record(data, fmt) for col in preset.text_columns)


def _first_record(data: bytes, fmt: Format) -> list[str]:
    """The first record as the format's parser reads it (CSV quoting, CRLF), decoding only what it needs."""
    if fmt == "csv":
        stream = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", errors="replace", newline="")
        try:
            return next(csv.reader(stream), [])
        except csv.Error:
            return []  # not a header; parsing proper names the problem
    stream = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", errors="replace", newline="\n")
    return stream.readline().removesuffix("\n").removesuffix("\r").split("\t")


def resolve_spec(
    table: Table,
    *,
    task: str | None = None,
    text_columns: Sequence[str] | None = None,
    label_column: str | None = None,
    name: str | None = None,
) -> DatasetSpec:
    """Pick the text and label columns (task preset or explicit), then validate every row against them."""
    preset = get_task(task) if task else None
    texts = tuple(text_columns) if text_columns else (preset.text_columns if preset else ())
    label = label_column if label_column is not None else (preset.label_column if preset else None)
    if table.format == "text" and not text_columns:  # a plain-text file: its lines, unlabelled
        texts, label = (TEXT_COLUMN,), label_column or None
    if not texts:
        raise DatasetError("name a task or at least one text column", path=name)
    if len(texts) > 2:
        raise DatasetError(f"at most two text columns are supported, got {len(texts)}", path=name)
    for col in (*texts, *([label] if label else [])):
        if col not in table.columns:
            raise DatasetError(f"column not found; the file has columns {table.columns}", path=name, column=col)
    if label is not None and label in texts:
        raise DatasetError("the label column is also a text column", path=name, column=label)
    _validate_rows(table, texts, label, preset, name)
    return DatasetSpec(texts, label, preset.name if preset else None)


def _validate_rows(
    table: Table, texts: tuple[str, ...], label: str | None, preset: TaskPreset | None, name: str | None
) -> None:
    text_idx = [table.column_index(c) for c in texts]
    label_idx = table.column_index(label) if label else None
    for r, row in enumerate(table.rows):
        line = table.lines[r] if r < len(table.lines) else None
        for col, idx in zip(texts, text_idx):
            if not isinstance(row[idx], str):
                raise DatasetError("text must be a string", path=name, line=line, row=r + 1, column=col)
        if label_idx is None or preset is None:
            continue
        value = row[label_idx]
        if preset.is_regression:
            _check_score(value, name, line, r + 1, label)
        elif str(value) not in preset.labels:  # type: ignore[operator]
            raise DatasetError(
                f"label {value!r} is not one of {list(preset.labels or ())}",
                path=name,
                line=line,
                row=r + 1,
                column=label,
            )


def _check_score(value: Any, name: str | None, line: int | None, row: int, column: str | None) -> None:
    """A regression label must be a finite number: nan/inf would poison the loss and every metric."""
    try:
        number = None if isinstance(value, bool) else float(value)  # JSON true is no score of 1.0
    except (TypeError, ValueError, OverflowError):  # OverflowError: a JSON integer too large for a float
        number = None
    shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
    if number is None:
        raise DatasetError(f"label {shown} is not a number", path=name, line=line, row=row, column=column)
    if not math.isfinite(number):
        raise DatasetError(f"label {shown} is not a finite number", path=name, line=line, row=row, column=column)


# ---------------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------------


def format_header(table: Table) -> str:
    """The bytes (as text) that precede the rows: BOM and header row, where the input had them."""
    bom = _BOM if table.bom else ""
    if not table.has_header or table.format == "jsonl":
        return bom
    return bom + format_rows(table, [table.columns])


def format_rows(table: Table, rows: Iterable[Sequence[Any]]) -> str:
    """Rows in the table's format, each ending in a newline; concatenations of these are valid files."""
    if table.format in ("tsv", "text"):  # a text table has one column: its lines
        out = []
        forbidden = ("\n",) if table.format == "text" else ("\t", "\n")
        for row in rows:
            for cell in row:
                if any(c in str(cell) for c in forbidden):
                    raise DatasetError(f"a TSV cell cannot hold a tab or newline: {str(cell)[:60]!r}")
            out.append("\t".join(str(c) for c in row) + "\n")
        return "".join(out)
    if table.format == "csv":
        return _format_csv_rows(rows)
    return "".join(json.dumps(dict(zip(table.columns, row)), ensure_ascii=False) + "\n" for row in rows)


def _format_csv_rows(rows: Iterable[Sequence[Any]]) -> str:
    """CSV rows ending in "\\n" in which a cell holding "\\r" is quoted too (else it re-reads as two rows).

    csv quotes the characters of its line terminator, so rows are written with "\\r\\n" and end in "\\n":
    rows without a "\\r" keep exactly the bytes a "\\n" writer gave them.
    """
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    out = []
    for row in rows:
        writer.writerow(row)
        out.append(buf.getvalue()[:-2] + "\n")
        buf.seek(0)
        buf.truncate()
    return "".join(out)


def atomic_write_text(path: str | os.PathLike[str], text_parts: Iterable[str]) -> None:
    """Write to a temp file beside ``path`` and rename it into place, so readers never see half a file."""
    with atomic_write(path, "w", encoding="utf-8", newline="") as fh:
        for part in text_parts:
            fh.write(part)


def write_table(table: Table, path: str | os.PathLike[str]) -> None:
    """Write the whole table atomically in its own format."""
    atomic_write_text(path, [format_header(table), format_rows(table, table.rows)])
