"""/v1/models: what a team may name as a model or vector reference (folders under the operator's roots,
named GloVe sources, whether hub ids are accepted, and the team's succeeded fine-tunes as job ids)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from services.api.contract import AUTHENTICATED
from services.api.deps import JobStoreDep, SettingsDep, TeamDep
from shared.job_types import JobType
from shared.model_access import ModelAccess
from shared.service_schemas import ModelCatalog

router = APIRouter(prefix="/v1/models", tags=["models"], responses=AUTHENTICATED)  # 401, and 503: Redis

#: Most succeeded fine-tunes listed (newest first).
_JOBS_LISTED = 200


@router.get("", response_model=ModelCatalog)
def list_models(team: TeamDep, settings: SettingsDep, jobs: JobStoreDep) -> dict[str, Any]:
    """Model folders and vector files under DISTILLERY_MODEL_ROOTS (a bounded scan), and this team's
    succeeded fine-tunes, usable as ``{"job_id": ...}`` where a teacher is asked for."""
    catalog = ModelAccess.from_settings(settings).catalog()
    finetunes, _ = jobs.list(team, job_type=JobType.FINETUNE, status="succeeded", limit=_JOBS_LISTED)
    catalog["jobs"] = [{"job_id": j["id"], "type": j["type"], "finished_at": j["finished_at"]} for j in finetunes]
    return catalog
