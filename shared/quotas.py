"""Per-team limits: the settings' defaults, with per-team overrides from ``DISTILLERY_TEAM_LIMITS``.

One team must not fill the queue or the disk of a shared server. The limits are read here only; the
counting that enforces them is atomic in Redis (``JobStore`` for active jobs, ``DatasetStore`` and
``JobStore`` for stored bytes), so two requests at once cannot both slip under a limit.

``DISTILLERY_TEAM_LIMITS`` is JSON: ``{"team-a": {"max_active_jobs": 2, "max_stored_mb": 100}}``; a team
not named, and a field not given, keep the defaults (``DISTILLERY_MAX_ACTIVE_JOBS`` ...).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields, replace
from functools import lru_cache
from typing import Any

from shared.settings import Settings

_MIB = 1024 * 1024


class LimitsConfigError(ValueError):
    """DISTILLERY_TEAM_LIMITS is not the expected JSON (an operator's mistake, found at start-up)."""


@dataclass(frozen=True)
class TeamLimits:
    """What one team may use at once."""

    max_active_jobs: int
    max_augment_rows_out: int
    max_stored_mb: int
    max_upload_mb: int

    @property
    def max_stored_bytes(self) -> int:
        return self.max_stored_mb * _MIB

    @property
    def max_upload_bytes(self) -> int:
        return self.max_upload_mb * _MIB

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@lru_cache(maxsize=16)
def _overrides(raw: str) -> dict[str, dict[str, int]]:
    """The parsed DISTILLERY_TEAM_LIMITS (cached by its text); LimitsConfigError naming what is wrong."""
    if not raw.strip():
        return {}
    try:
        doc: Any = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise LimitsConfigError(f"DISTILLERY_TEAM_LIMITS is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise LimitsConfigError('DISTILLERY_TEAM_LIMITS must be an object: {"team": {"max_active_jobs": 2}}')
    known = {f.name for f in fields(TeamLimits)}
    for team, values in doc.items():
        if not isinstance(values, dict):
            raise LimitsConfigError(f"DISTILLERY_TEAM_LIMITS[{team!r}] must be an object of limits")
        for name, value in values.items():
            if name not in known:
                raise LimitsConfigError(f"DISTILLERY_TEAM_LIMITS[{team!r}]: unknown limit {name!r} ({sorted(known)})")
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise LimitsConfigError(f"DISTILLERY_TEAM_LIMITS[{team!r}][{name!r}] must be an integer >= 0")
    return doc


def team_limits(settings: Settings, team: str) -> TeamLimits:
    """The limits of ``team``: the settings' defaults, updated with its DISTILLERY_TEAM_LIMITS entry."""
    base = TeamLimits(
        max_active_jobs=settings.max_active_jobs,
        max_augment_rows_out=settings.max_augment_rows_out,
        max_stored_mb=settings.max_stored_mb,
        max_upload_mb=settings.max_upload_mb,
    )
    return replace(base, **_overrides(settings.team_limits).get(team, {}))


def check_team_limits(settings: Settings) -> None:
    """Raise LimitsConfigError when DISTILLERY_TEAM_LIMITS is malformed (called when the API starts)."""
    _overrides(settings.team_limits)
