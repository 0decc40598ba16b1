"""Receive a multipart upload by streaming it to disk, refusing it the moment it exceeds the limit.

FastAPI's ``UploadFile`` would spool the whole body before the handler runs, so a 10 GiB upload would be
read in full before being refused; parsing the stream ourselves stops at the limit.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from python_multipart.multipart import MultipartParser, parse_options_header

MAX_FIELD_BYTES = 64 * 1024


class UploadError(Exception):
    """A malformed or oversized upload; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class ReceivedUpload:
    fields: dict[str, str] = field(default_factory=dict)
    filename: str | None = None
    path: Path | None = None
    size: int = 0
    sha256: str = ""

    def discard(self) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)


async def receive_upload(
    content_type: str, stream: AsyncIterator[bytes], *, file_field: str, max_bytes: int, scratch_dir: Path
) -> ReceivedUpload:
    """Parse a multipart body: form fields into ``fields``, the ``file_field`` part into a temp file."""
    mime, options = parse_options_header(content_type or "")
    if mime != b"multipart/form-data" or b"boundary" not in options:
        raise UploadError(415, "send the dataset as multipart/form-data with a 'file' field")
    upload = ReceivedUpload()
    digest = hashlib.sha256()
    state: dict[str, object] = {"name": None, "is_file": False, "buf": bytearray(), "hname": b"", "hval": b""}
    headers: dict[bytes, bytes] = {}
    fd, tmp = tempfile.mkstemp(prefix="upload-", dir=scratch_dir)
    out = os.fdopen(fd, "wb")
    upload.path = Path(tmp)

    def on_part_begin() -> None:
        headers.clear()
        state.update(name=None, is_file=False, buf=bytearray())

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state["hname"] = state["hname"] + data[start:end]  # type: ignore[operator]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        state["hval"] = state["hval"] + data[start:end]  # type: ignore[operator]

    def on_header_end() -> None:
        headers[state["hname"].lower()] = state["hval"]  # type: ignore[union-attr,index]
        state.update(hname=b"", hval=b"")

    def on_headers_finished() -> None:
        _, opts = parse_options_header(headers.get(b"content-disposition", b""))
        if b"name" not in opts:
            raise UploadError(400, "a multipart part has no field name")
        name = opts[b"name"].decode("utf-8", "replace")
        state["name"] = name
        if name == file_field:
            if upload.filename is not None:
                raise UploadError(400, f"send exactly one '{file_field}' part")
            upload.filename = opts.get(b"filename", b"upload").decode("utf-8", "replace") or "upload"
            state["is_file"] = True

    def on_part_data(data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if state["is_file"]:
            upload.size += len(chunk)
            if upload.size > max_bytes:
                raise UploadError(
                    413, f"field 'file': the upload exceeds the limit of {max_bytes // (1024 * 1024)} MiB"
                )
            digest.update(chunk)
            out.write(chunk)
        else:
            buf = state["buf"]
            buf.extend(chunk)  # type: ignore[union-attr]
            if len(buf) > MAX_FIELD_BYTES:  # type: ignore[arg-type]
                raise UploadError(413, f"form field {state['name']!r} is too long")

    def on_part_end() -> None:
        if not state["is_file"] and state["name"]:
            upload.fields[str(state["name"])] = bytes(state["buf"]).decode("utf-8", "replace")  # type: ignore[arg-type]

    parser = MultipartParser(
        options[b"boundary"],
        {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
        },
    )
    try:
        async for chunk in stream:
            parser.write(chunk)
        parser.finalize()
    except UploadError:
        out.close()
        upload.discard()
        raise
    except Exception as exc:  # python-multipart's own parse errors
        out.close()
        upload.discard()
        raise UploadError(400, f"malformed multipart body: {exc}") from None
    out.close()
    if upload.filename is None:
        upload.discard()
        raise UploadError(422, f"field '{file_field}' is required (the dataset file)")
    upload.sha256 = digest.hexdigest()
    return upload
