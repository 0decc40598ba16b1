"""A team's limits enforced at submission: rows out of an augmentation, stored bytes, active jobs.

The limits come from ``shared.quotas``; the counting is atomic in the stores. Every refusal names the
limit, its value and the team's figure, so a client knows what to change (or how long to wait: 429 comes
with Retry-After)."""

from __future__ import annotations

from collections.abc import Callable

from shared.job_store import ActiveLimitReached, JobStore
from shared.quotas import TeamLimits, team_limits
from shared.settings import Settings
from workers.orchestration.errors import OverLimit, TooManyJobs

_MIB = 1024 * 1024


def limits_of(settings: Settings, team: str) -> TeamLimits:
    return team_limits(settings, team)


def check_rows_out(limits: TeamLimits, team: str, rows: int, n: int, prefix: str = "") -> None:
    """An augmentation writes rows x (N+1) rows (each input row and its N variants)."""
    out = rows * (n + 1)
    if out > limits.max_augment_rows_out:
        raise OverLimit(
            f"field '{prefix}n': the augmentation would write {out:,} rows ({rows:,} rows x (n={n} + 1)), over the "
            f"limit max_augment_rows_out={limits.max_augment_rows_out:,} of team '{team}'; lower n or split the dataset"
        )


def check_stored(jobs: JobStore, limits: TeamLimits, team: str) -> None:
    """A team at its stored-bytes limit starts no new job until it deletes something."""
    used = jobs.usage(team)["stored_bytes"]
    if used >= limits.max_stored_bytes:
        raise OverLimit(
            f"limit max_stored_mb={limits.max_stored_mb} of team '{team}': the team stores {used:,} bytes "
            f"({used / _MIB:,.1f} MiB); delete jobs (DELETE /v1/jobs/{{id}}) or datasets first"
        )


def too_many(team: str, active: int, limit: int, retry_after_s: int) -> TooManyJobs:
    return TooManyJobs(
        f"limit max_active_jobs={limit} of team '{team}': {active} jobs are queued or running; "
        "submit again when one has finished",
        retry_after_s,
    )


def check_active(jobs: JobStore, settings: Settings, team: str) -> None:
    """A quick refusal before a multi-job submission (a pipeline) creates anything; the real admission is
    the atomic one of ``create_counted``."""
    limit = limits_of(settings, team).max_active_jobs
    active = jobs.active_count(team)
    if active >= limit:
        raise too_many(team, active, limit, settings.quota_retry_after_s)


def create_counted(settings: Settings, team: str, create: Callable[[int], str]) -> str:
    """``create(active_limit)`` -> job id; a team at its active-job limit gets TooManyJobs (429)."""
    try:
        return create(limits_of(settings, team).max_active_jobs)
    except ActiveLimitReached as exc:
        raise too_many(team, exc.active, exc.limit, settings.quota_retry_after_s) from None
