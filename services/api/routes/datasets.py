"""/v1/datasets: upload (validated by the CLI's own reader), list, show with preview, delete."""

from __future__ import annotations

import json
import os
from typing import Any

import redis
from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from starlette.concurrency import run_in_threadpool

from services.api.contract import AUTHENTICATED, WRITES, error, errors, unprocessable, validation_item
from services.api.deps import DatasetStoreDep, PageDep, SettingsDep, StorageDep, TeamDep
from services.api.uploads import ReceivedUpload, UploadError, receive_upload
from shared.dataset_io import DatasetError, detect_format, read_table, resolve_spec
from shared.dataset_store import DatasetInUse, StorageLimitReached
from shared.quotas import team_limits
from shared.schemas import Dataset, DatasetPreview, Page
from shared.storage import DISK_FULL, Storage, is_disk_full
from shared.tasks import UnknownTaskError

router = APIRouter(prefix="/v1/datasets", tags=["datasets"], responses=AUTHENTICATED)

_UPLOAD_FORM = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "additionalProperties": False,
                    "properties": {
                        "file": {"type": "string", "format": "binary", "description": ".tsv, .csv or .jsonl"},
                        "task": {"type": "string", "description": "GLUE preset (sst-2, mrpc, rte, sts-b...)"},
                        "text_columns": {"type": "string", "description": "comma-separated, at most two"},
                        "label_column": {"type": "string"},
                        "name": {"type": "string", "description": "display name (default: the file name)"},
                        "format": {"type": "string", "description": "tsv, csv or jsonl (default: from suffix)"},
                    },
                }
            }
        },
    }
}


#: The form fields an upload may have besides ``file``; any other (a misspelt ``lable_column``) is refused.
_FORM_FIELDS = ("task", "text_columns", "label_column", "name", "format")


def _check_fields(fields: dict[str, str]) -> None:
    """422 naming each unknown form field: silently ignoring a misspelt option would store the wrong spec."""
    unknown = sorted(set(fields) - set(_FORM_FIELDS))
    if unknown:
        accepted = ", ".join(("file", *_FORM_FIELDS))
        msg = "field '{}': unknown form field; the accepted fields are " + accepted
        raise HTTPException(422, [validation_item(["body", f], msg.format(f), "extra_forbidden") for f in unknown])


def _dataset_error(exc: DatasetError, filename: str) -> HTTPException:
    """422 whose message names the file, line, row and column, like the CLI's; ``ctx`` holds them apart."""
    exc.path = filename
    where = {k: v for k, v in exc.to_dict().items() if k in ("message", "file", "line", "row", "column")}
    return unprocessable(["body", "file"], str(exc), "dataset_error", **where)


#: 422 answers of an upload: FastAPI's validation shape; ``ctx`` of a file problem has its file/line/row/column.
_UPLOAD_422: dict[int | str, dict[str, Any]] = {
    422: {
        "description": "the file or a form field is invalid (the message names the line, row and column)",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/HTTPValidationError"}}},
    }
}


def _validate(upload: ReceivedUpload, fields: dict[str, str], storage: Storage, dataset_id: str) -> dict[str, Any]:
    """Parse and check the whole file exactly as `distillery augment` would, then move it into place."""
    filename = upload.filename or "upload"
    assert upload.path is not None
    fmt = detect_format(filename, fields.get("format") or None)
    task = fields.get("task") or None
    text_columns = [c.strip() for c in fields.get("text_columns", "").split(",") if c.strip()] or None
    label_column = fields.get("label_column") or None
    typed = upload.path.with_name(upload.path.name + f".{fmt}")
    os.replace(upload.path, typed)
    upload.path = typed
    table = read_table(typed, fmt, task=task)
    spec = resolve_spec(table, task=task, text_columns=text_columns, label_column=label_column, name=filename)
    target = storage.dataset_file(dataset_id, fmt)
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(typed, target)
    doc = {
        "id": dataset_id,
        "name": fields.get("name") or filename,
        "filename": filename,
        "rows": len(table.rows),
        "columns": table.columns,
        "format": fmt,
        "task": spec.task,
        "text_columns": list(spec.text_columns),
        "label_column": spec.label_column,
        "sha256": upload.sha256,
        "size_bytes": upload.size,
    }
    return doc


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=Dataset,
    openapi_extra=_UPLOAD_FORM,
    responses={
        **errors(400, 415, 507),
        **error(413, "over the team's upload size or stored-bytes limit"),
        **_UPLOAD_422,
    },
)
async def upload_dataset(
    request: Request, team: TeamDep, settings: SettingsDep, storage: StorageDep, datasets: DatasetStoreDep
) -> dict[str, Any]:
    """Upload a dataset (multipart field ``file``); the whole file is validated before it is accepted."""
    limits = team_limits(settings, team)
    limit = limits.max_upload_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + MULTIPART_OVERHEAD:
        raise HTTPException(413, f"field 'file': the upload exceeds the limit of {limits.max_upload_mb} MiB")
    try:
        upload = await receive_upload(
            request.headers.get("content-type", ""),
            request.stream(),
            file_field="file",
            max_bytes=limit,
            scratch_dir=storage.uploads_dir(),
        )
    except UploadError as exc:
        if exc.status == 422:
            raise unprocessable(["body", "file"], exc.message, "missing") from None
        raise HTTPException(exc.status, exc.message) from None
    dataset_id = datasets.new_id()
    try:
        _check_fields(upload.fields)  # inside the try: its finally discards the uploaded temp file
        doc = await run_in_threadpool(_validate, upload, upload.fields, storage, dataset_id)
        storage.dataset_meta(dataset_id).write_text(json.dumps(doc, indent=2))
    except DatasetError as exc:
        raise _dataset_error(exc, upload.filename or "upload") from None
    except UnknownTaskError as exc:
        raise unprocessable(["body", "task"], f"field 'task': {exc}") from None
    except OSError as exc:
        storage.delete_dataset(dataset_id)  # no half-stored dataset is left behind
        if is_disk_full(exc):
            raise HTTPException(507, f"field 'file': {DISK_FULL}") from None
        raise
    finally:
        upload.discard()
    try:
        return datasets.add(team, doc, max_stored_bytes=limits.max_stored_bytes)
    except StorageLimitReached as exc:
        storage.delete_dataset(dataset_id)
        raise HTTPException(
            413,
            f"field 'file': limit max_stored_mb={limits.max_stored_mb} of team '{team}': the team stores "
            f"{exc.used:,} bytes and this file has {exc.size:,}; delete jobs or datasets first",
        ) from None
    except redis.RedisError:  # Redis down (503) or refusing writes (507): leave no unregistered files behind
        storage.delete_dataset(dataset_id)
        raise


#: Room for multipart boundaries and small form fields around the file itself.
MULTIPART_OVERHEAD = 256 * 1024


@router.get("", response_model=Page[Dataset])
def list_datasets(team: TeamDep, datasets: DatasetStoreDep, page: PageDep) -> dict[str, Any]:
    offset, limit = page
    items, total = datasets.list(team, offset=offset, limit=limit)
    return {"items": items, "total": total, "offset": offset, "limit": limit}


def _owned(datasets: DatasetStoreDep, dataset_id: str, team: str) -> dict[str, Any]:
    doc = datasets.get(dataset_id, team)
    if doc is None:
        raise HTTPException(404, f"dataset {dataset_id!r} not found")
    return doc


def _preview(storage: Storage, dataset_id: str, doc: dict[str, Any], rows: int) -> list[dict[str, Any]]:
    """The first ``rows`` rows; a file deleted meanwhile (a racing DELETE) is a 404, not a 500."""
    path = storage.dataset_file(dataset_id, doc["format"])
    try:
        table = read_table(path, doc["format"], task=doc["task"])
    except DatasetError as exc:
        if not path.is_file():
            raise HTTPException(404, f"dataset {dataset_id!r} not found (deleted while it was read)") from None
        exc.path = doc.get("filename")  # the user's file name, not the server's path
        raise HTTPException(409, f"dataset {dataset_id!r} can no longer be read: {exc}") from None
    return [dict(zip(table.columns, row)) for row in table.rows[:rows]]


@router.get(
    "/{dataset_id}",
    response_model=DatasetPreview,
    responses={**errors(404), **error(409, "preview only: the stored file no longer parses (a stricter reader)")},
)
def get_dataset(
    dataset_id: str,
    team: TeamDep,
    datasets: DatasetStoreDep,
    storage: StorageDep,
    preview: int = Query(0, ge=0, le=1000, description="Also return the first N rows"),
) -> dict[str, Any]:
    doc = _owned(datasets, dataset_id, team)
    if preview:
        doc["preview"] = _preview(storage, dataset_id, doc, preview)
    return doc


@router.delete(
    "/{dataset_id}",
    status_code=204,
    responses={**errors(404), **error(409, "a queued or running job reads it"), **WRITES},
)
def delete_dataset(dataset_id: str, team: TeamDep, datasets: DatasetStoreDep, storage: StorageDep) -> Response:
    _owned(datasets, dataset_id, team)
    try:
        datasets.delete(dataset_id, team)  # refused, in the same Lua script, while an active job reads it
    except DatasetInUse as exc:
        raise HTTPException(409, str(exc)) from None
    storage.delete_dataset(dataset_id)
    return Response(status_code=204)
