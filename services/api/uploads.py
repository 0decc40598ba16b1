"""Receive a multipart upload by streaming it to disk, refusing it the moment it exceeds the limit.

FastAPI's ``UploadFile`` would spool the whole body before the handler runs, so a 10 GiB upload would be
read in full before being refused; parsing the stream ourselves stops at the limit.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from python_multipart.multipart import MultipartParser, parse_options_header

from shared.storage import DISK_FULL, is_disk_full

MAX_FIELD_BYTES = 64 * 1024
#: How much of a refused upload is still read so its sender sees the answer (a longer one is cut off).
DRAIN_LIMIT = 8 * 1024 * 1024


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


class _PartSink:
    """python-multipart's callbacks: form fields into ``upload.fields``, the file part hashed into ``out``."""

    def __init__(self, upload: ReceivedUpload, out: BinaryIO, *, file_field: str, max_bytes: int) -> None:
        self.upload = upload
        self.out = out
        self.file_field = file_field
        self.max_bytes = max_bytes
        self.digest = hashlib.sha256()
        self.headers: dict[bytes, bytes] = {}
        self.header_name = b""
        self.header_value = b""
        self.name: str | None = None  # field name of the current part
        self.is_file = False  # the current part is the file
        self.buf = bytearray()  # value of the current (non-file) form field

    def callbacks(self) -> dict[str, Callable[..., None]]:
        return {
            "on_part_begin": self.on_part_begin,
            "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
            "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end,
        }

    def on_part_begin(self) -> None:
        self.headers.clear()
        self.name, self.is_file, self.buf = None, False, bytearray()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        self.headers[self.header_name.lower()] = self.header_value
        self.header_name, self.header_value = b"", b""

    def on_headers_finished(self) -> None:
        _, opts = parse_options_header(self.headers.get(b"content-disposition", b""))
        if b"name" not in opts:
            raise UploadError(400, "a multipart part has no field name")
        self.name = opts[b"name"].decode("utf-8", "replace")
        if self.name == self.file_field:
            if self.upload.filename is not None:
                raise UploadError(400, f"send exactly one '{self.file_field}' part")
            self.upload.filename = opts.get(b"filename", b"upload").decode("utf-8", "replace") or "upload"
            self.is_file = True

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if self.is_file:
            self.upload.size += len(chunk)
            if self.upload.size > self.max_bytes:
                raise UploadError(
                    413, f"field 'file': the upload exceeds the limit of {self.max_bytes // (1024 * 1024)} MiB"
                )
            self.digest.update(chunk)
            self.out.write(chunk)
        else:
            self.buf.extend(chunk)
            if len(self.buf) > MAX_FIELD_BYTES:
                raise UploadError(413, f"form field {self.name!r} is too long")

    def on_part_end(self) -> None:
        if not self.is_file and self.name:
            self.upload.fields[self.name] = bytes(self.buf).decode("utf-8", "replace")


def _close_quietly(out: BinaryIO) -> None:
    try:
        out.close()
    except OSError:  # the flush of a file being discarded anyway
        pass


async def receive_upload(
    content_type: str, stream: AsyncIterator[bytes], *, file_field: str, max_bytes: int, scratch_dir: Path
) -> ReceivedUpload:
    """Parse a multipart body: form fields into ``fields``, the ``file_field`` part into a temp file.

    A full disk is a 507 (the partial temp file removed); any other error keeps its own status."""
    mime, options = parse_options_header(content_type or "")
    if mime != b"multipart/form-data" or b"boundary" not in options:
        raise UploadError(415, "send the dataset as multipart/form-data with a 'file' field")
    try:
        return await _receive(
            options[b"boundary"], stream, file_field=file_field, max_bytes=max_bytes, scratch=scratch_dir
        )
    except OSError as exc:
        await _drain(stream)
        if is_disk_full(exc):
            raise UploadError(507, f"field 'file': {DISK_FULL}") from None
        raise
    except UploadError:
        await _drain(stream)
        raise


async def _drain(stream: AsyncIterator[bytes], limit: int = DRAIN_LIMIT) -> None:
    """Read (and drop) what is left of a refused body, up to ``limit`` bytes, so that the client, still
    sending, reads our answer instead of a reset connection; a longer body is cut off as before."""
    seen = 0
    try:
        async for chunk in stream:
            seen += len(chunk)
            if seen > limit:
                return
    except Exception:  # the client went away, or the body ended badly: nothing more to read
        return


async def _receive(
    boundary: bytes, stream: AsyncIterator[bytes], *, file_field: str, max_bytes: int, scratch: Path
) -> ReceivedUpload:
    upload = ReceivedUpload()
    fd, tmp = tempfile.mkstemp(prefix="upload-", dir=scratch)
    out = os.fdopen(fd, "wb")
    upload.path = Path(tmp)
    sink = _PartSink(upload, out, file_field=file_field, max_bytes=max_bytes)
    try:  # the parser refuses some boundaries (over 256 bytes): a 400 like any malformed body, temp file removed
        parser = MultipartParser(boundary, sink.callbacks())  # type: ignore[arg-type]  # a dict of the TypedDict's keys
        async for chunk in stream:
            parser.write(chunk)
        parser.finalize()
    except UploadError:
        out.close()
        upload.discard()
        raise
    except OSError:  # a write failed (a full disk...): receive_upload says which
        _close_quietly(out)
        upload.discard()
        raise
    except Exception as exc:  # python-multipart's own parse errors
        out.close()
        upload.discard()
        raise UploadError(400, f"malformed multipart body: {exc}") from None
    try:
        out.close()  # flushes the last bytes: the disk may be full here too
    except OSError:
        upload.discard()
        raise
    if upload.filename is None:
        upload.discard()
        raise UploadError(422, f"field '{file_field}' is required (the dataset file)")
    upload.sha256 = sink.digest.hexdigest()
    return upload
