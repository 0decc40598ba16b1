"""/v1/usage: what a team uses (active jobs, jobs by status, rows out, stored bytes, datasets) against its
limits (``shared.quotas``: the settings' defaults with the team's DISTILLERY_TEAM_LIMITS overrides)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from services.api.contract import AUTHENTICATED
from services.api.deps import DatasetStoreDep, JobStoreDep, SettingsDep, TeamDep
from shared.quotas import team_limits
from shared.service_schemas import Usage

router = APIRouter(prefix="/v1/usage", tags=["usage"], responses=AUTHENTICATED)  # 401, and 503: Redis


@router.get("", response_model=Usage)
def get_usage(team: TeamDep, settings: SettingsDep, jobs: JobStoreDep, datasets: DatasetStoreDep) -> dict[str, Any]:
    """The team's figures beside its limits (a pipeline's children are listed among its jobs but only the
    pipeline counts as an active job)."""
    counters = jobs.usage(team)
    figures = {
        "active_jobs": jobs.active_count(team),
        "jobs": jobs.status_counts(team),
        "rows_out": counters["rows_out"],
        "stored_bytes": counters["stored_bytes"],
        "datasets": datasets.count(team),
    }
    return {"team": team, "usage": figures, "limits": team_limits(settings, team).as_dict()}
