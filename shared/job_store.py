"""The truth about jobs, kept in Redis: records, status transitions, progress, events, cancel flags.

RQ only executes work; the API answers every question about a job from this store. It knows nothing of
job types beyond a name, so augmentation, fine-tune, distillation and pipeline jobs share it. Status
changes and counter updates go through small Lua scripts so that concurrent workers never undo each
other (a late shard cannot revive a cancelled job, a retried shard cannot double-count its rows).
"""

from __future__ import annotations

import builtins
import json
import re
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import redis
from redis.typing import EncodableT, FieldT

from shared import redis_keys as keys
from shared.redis_conn import as_text
from shared.schemas import ACTIVE_STATUSES, JOB_STATUSES, TERMINAL_STATUSES

#: Fields of the job hash that hold JSON documents.
_JSON_FIELDS = ("params", "result", "error")
#: Prefix of the job-hash fields that hold one type-specific progress field each (JSON), see set_progress_extra.
_EXTRA = "extra:"
#: Fields without which a job hash is no record (a partial hash left by a late writer reads as absent).
_REQUIRED = ("id", "type", "team", "status")
#: How long a deleted job's stop flag outlives it. Its queued shards may sit on a busy queue for a while and must
#: still see "stop" (a missing record also reads as stopped; the flag says why). A module constant: JobStore is
#: made in many places without a settings object, and the value only has to exceed any plausible queue wait.
DELETED_STOP_FLAG_S = 7 * 86_400

# Set status (and extra fields) only if the current status is one of the allowed ones.
# KEYS[1] job hash; ARGV[1] new status; ARGV[2] number of allowed statuses; then the allowed statuses;
# then field/value pairs to set with it. Returns "OK" or the current status (or false if no job).
_TRANSITION = """
local cur = redis.call('HGET', KEYS[1], 'status')
if not cur then return false end
local n = tonumber(ARGV[2])
for i = 3, 2 + n do
  if cur == ARGV[i] then
    redis.call('HSET', KEYS[1], 'status', ARGV[1])
    for j = 3 + n, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[j], ARGV[j + 1]) end
    return 'OK'
  end
end
return cur
"""

# Every write a worker makes starts with this: a deleted job's record is never recreated by a late writer (a
# partial hash without ``team`` would turn the API's 404 into a 500). KEYS[1] is always the job hash.
_UNLESS_GONE = "if redis.call('EXISTS', KEYS[1]) == 0 then return false end\n"

# KEYS[1] job hash, KEYS[2] shard progress hash; ARGV[1] shard, ARGV[2] rows just done.
_ADD_PROGRESS = (
    _UNLESS_GONE
    + """
redis.call('HINCRBY', KEYS[2], ARGV[1], ARGV[2])
return redis.call('HINCRBY', KEYS[1], 'done', ARGV[2])
"""
)

# A shard (re)starting forgets what an earlier attempt counted. KEYS as above; ARGV[1] shard.
_RESET_SHARD = (
    _UNLESS_GONE
    + """
local prev = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
redis.call('HSET', KEYS[2], ARGV[1], 0)
if prev ~= 0 then redis.call('HINCRBY', KEYS[1], 'done', -prev) end
return prev
"""
)

# KEYS[1] job hash, KEYS[2] events list, KEYS[3] sequence counter; ARGV[1] event JSON without seq (ends in '}'),
# ARGV[2] max kept.
_APPEND_EVENT_BODY = """
local seq = redis.call('INCR', KEYS[3])
local doc = '{"seq":' .. seq .. ',' .. string.sub(ARGV[1], 2)
redis.call('RPUSH', KEYS[2], doc)
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[2]), -1)
return seq
"""
_APPEND_EVENT = _UNLESS_GONE + _APPEND_EVENT_BODY

# The same, unless the job's stop flag (KEYS[4]) is raised or its record is gone: returns false then. A worker
# starting a shard logs "started" through this, so a cancel can never fall between its check and its event.
_APPEND_EVENT_UNLESS_STOPPED = (
    _UNLESS_GONE + "if redis.call('EXISTS', KEYS[4]) == 1 then return false end\n" + _APPEND_EVENT_BODY
)

# HSET field/value pairs (ARGV) into KEYS[2] (the job hash itself, or one of its side hashes).
_HSET = _UNLESS_GONE + "return redis.call('HSET', KEYS[2], unpack(ARGV))\n"

# Mark shard ARGV[1] finished in KEYS[2] (a set); returns how many are.
_SHARD_DONE = (
    _UNLESS_GONE
    + """
redis.call('SADD', KEYS[2], ARGV[1])
return redis.call('SCARD', KEYS[2])
"""
)

# Append ARGV[1] to the metrics list of each job: KEYS are (job hash, metrics list) pairs, ARGV[2] max kept.
# One script, so every live series gets the point or none does; a deleted job's series is not recreated.
_APPEND_METRIC = """
for i = 1, #KEYS, 2 do
  if redis.call('EXISTS', KEYS[i]) == 1 then
    redis.call('RPUSH', KEYS[i + 1], ARGV[1])
    redis.call('LTRIM', KEYS[i + 1], -tonumber(ARGV[2]), -1)
  end
end
"""


# Drop from a team's active set (KEYS[1]) every job no longer queued or running; ARGV[1] = job hash key prefix.
_PRUNE_ACTIVE = """
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local st = redis.call('HGET', ARGV[1] .. id, 'status')
  if st ~= 'queued' and st ~= 'running' then redis.call('SREM', KEYS[1], id) end
end
"""

# Admit a counted job: KEYS[1] team active set, KEYS[2] job hash, KEYS[3] team jobs zset; ARGV[1] prefix,
# ARGV[2] limit, ARGV[3] job id, ARGV[4] created_at, then the record's field/value pairs. Returns -1 when
# created, else the active count that refused it.
_ADMIT = (
    _PRUNE_ACTIVE
    + """
local active = redis.call('SCARD', KEYS[1])
if active >= tonumber(ARGV[2]) then return active end
redis.call('HSET', KEYS[2], unpack(ARGV, 5))
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[3])
redis.call('SADD', KEYS[1], ARGV[3])
return -1
"""
)

_COUNT_ACTIVE = _PRUNE_ACTIVE + "\nreturn redis.call('SCARD', KEYS[1])\n"

# Give back a job's stored bytes once: KEYS[1] job hash, KEYS[2] team usage hash. Returns the bytes released.
_RELEASE_BYTES = """
local b = tonumber(redis.call('HGET', KEYS[1], 'stored_bytes') or '0')
redis.call('HDEL', KEYS[1], 'stored_bytes')
if b ~= 0 then redis.call('HINCRBY', KEYS[2], 'stored_bytes', -b) end
return b
"""


# A Lua function both removal scripts (this module's claim, ``DatasetStore.delete``) start from: the ids in readers
# set ``set_key`` whose job (hash ``prefix .. id``) has a status in the lookup table ``active``, except ``skip``.
ACTIVE_READERS_LUA = """
local function active_readers(set_key, prefix, active, skip)
  local found = {}
  for _, id in ipairs(redis.call('SMEMBERS', set_key)) do
    if not skip[id] then
      local status = redis.call('HGET', prefix .. id, 'status')
      if status and active[status] then table.insert(found, id) end
    end
  end
  return found
end
"""

# Claim finished jobs for removal, all or none, unless an active job outside them reads one (is in its
# readers set, filled by ``JobStore.create``): one script, so a reader registered before the claim stops it and
# one registered after finds the ``removing`` mark (``JobStore.create``'s check). KEYS: each job's hash then its
# readers set; ARGV[1] n, ARGV[2..n+1] the job ids, ARGV[n+2] the job key prefix, then the active statuses.
# Returns {job, reader} when refused, {} once every job is marked.
_CLAIM_FOR_REMOVAL = (
    ACTIVE_READERS_LUA
    + """
local n = tonumber(ARGV[1])
local removed, active = {}, {}
for i = 1, n do removed[ARGV[i + 1]] = true end
for j = n + 3, #ARGV do active[ARGV[j]] = true end
for i = 1, n do
  local readers = active_readers(KEYS[2 * i], ARGV[n + 2], active, removed)
  if #readers > 0 then return {ARGV[i + 1], readers[1]} end
end
for i = 1, n do
  if redis.call('EXISTS', KEYS[2 * i - 1]) == 1 then redis.call('HSET', KEYS[2 * i - 1], 'removing', '1') end
end
return {}
"""
)

#: A job id inside another job's params: the jobs it reads (a teacher fine-tune, an augmentation, a source).
JOB_ID_IN_PARAMS = re.compile(r"job_[0-9a-f]{20}")


def jobs_read(params: Mapping[str, Any], job_id: str) -> builtins.list[str]:
    """The other jobs a job's params name (what ``claim_for_removal`` counts as reading them), except
    ``pipeline_id``: a pipeline's children are created before the pipeline they name."""
    named = {k: v for k, v in params.items() if k != "pipeline_id"}
    return sorted(set(JOB_ID_IN_PARAMS.findall(json.dumps(named))) - {job_id})


class InputGone(Exception):
    """A dataset or job the new job reads was removed while the job was being created; the job was failed."""

    def __init__(self, what: str, input_id: str) -> None:
        super().__init__(f"{what} {input_id!r} was removed while the job was submitted")
        self.input_id = input_id


class ActiveLimitReached(Exception):
    """A team already has ``active`` queued or running jobs, its limit; the job was not created."""

    def __init__(self, active: int, limit: int) -> None:
        super().__init__(f"{active} active jobs, limit {limit}")
        self.active = active
        self.limit = limit


def iso(ts: float | None) -> str | None:
    """Epoch seconds -> ISO 8601 UTC with milliseconds (what every API timestamp looks like)."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


class JobStore:
    """Job records in Redis. Every method is safe to call from many processes at once."""

    def __init__(self, connection: redis.Redis, *, events_max: int = 10_000) -> None:
        self.r = connection
        self.events_max = events_max
        self._transition = connection.register_script(_TRANSITION)
        self._add_progress = connection.register_script(_ADD_PROGRESS)
        self._reset_shard = connection.register_script(_RESET_SHARD)
        self._append_event = connection.register_script(_APPEND_EVENT)
        self._append_event_unless_stopped = connection.register_script(_APPEND_EVENT_UNLESS_STOPPED)
        self._hset = connection.register_script(_HSET)
        self._shard_done = connection.register_script(_SHARD_DONE)
        self._append_metric = connection.register_script(_APPEND_METRIC)
        self._admit = connection.register_script(_ADMIT)
        self._count_active = connection.register_script(_COUNT_ACTIVE)
        self._release_bytes = connection.register_script(_RELEASE_BYTES)
        self._claim_for_removal = connection.register_script(_CLAIM_FOR_REMOVAL)

    # --- creating and reading ---------------------------------------------------------------------------

    def create(
        self,
        *,
        job_type: str,
        team: str,
        params: Mapping[str, Any],
        total: int = 0,
        unit: str = "rows",
        shards_total: int = 0,
        dataset_ids: Iterable[str] = (),
        job_id: str | None = None,
        active_limit: int | None = None,
    ) -> str:
        """A new queued job owned by ``team``; returns its id. ``dataset_ids`` are the datasets it reads.

        With ``active_limit`` the job counts towards the team's active jobs and is created only while fewer
        than that many are queued or running, in one Lua script (ActiveLimitReached otherwise); without it
        (a pipeline's children) it is not counted.
        """
        job_id = job_id or new_id("job")
        now = time.time()
        record: dict[FieldT, EncodableT] = {
            "id": job_id,
            "type": job_type,
            "team": team,
            "status": "queued",
            "created_at": repr(now),
            "params": json.dumps(dict(params)),
            "done": 0,
            "total": int(total),
            "unit": unit,
            "shards_total": int(shards_total),
        }
        reads = jobs_read(params, job_id)
        if active_limit is not None:
            self._admit_counted(team, job_id, now, record, active_limit)
        with self.r.pipeline() as pipe:
            if active_limit is None:
                pipe.hset(keys.job(job_id), mapping=record)
                pipe.zadd(keys.team_jobs(team), {job_id: now})
            for ds in dataset_ids:
                pipe.sadd(keys.dataset_jobs(ds), job_id)
            for other in reads:
                pipe.sadd(keys.job_readers(other), job_id)
            pipe.execute()
        self.add_event(job_id, "created", f"{job_type} job created")
        self._check_inputs_remain(job_id, dataset_ids, reads)
        return job_id

    def _check_inputs_remain(self, job_id: str, dataset_ids: Iterable[str], job_ids: Iterable[str]) -> None:
        """InputGone when a dataset or job the new job reads was removed between the submission's lookup and
        the job's registration as its reader. Removal checks the readers and marks (a dataset: deletes) in one
        script (``DatasetStore.delete``, ``claim_for_removal``), so a removal after the registration was
        refused, and one before it is seen here."""
        gone = [("dataset", ds) for ds in dataset_ids if not self.r.exists(keys.dataset(ds))]
        for other in job_ids:
            status, removing = self.r.hmget(keys.job(other), "status", "removing")
            if status is None or removing is not None or as_text(status) == "expired":
                gone.append(("job", other))
        if gone:
            exc = InputGone(*gone[0])
            self.fail(job_id, "input_removed", str(exc))
            raise exc

    def raw(self, job_id: str) -> dict[str, Any] | None:
        """The stored record with JSON fields decoded and numbers parsed; None when absent."""
        with self.r.pipeline(transaction=False) as pipe:  # one round trip: a status poll is this call
            pipe.hgetall(keys.job(job_id))
            pipe.scard(keys.job_shards_done(job_id))
            data, shards_done = pipe.execute()
        return self.parse(data, shards_done)

    @staticmethod
    def parse(data: Mapping[bytes, bytes], shards_done: int) -> dict[str, Any] | None:
        """A record as ``raw`` returns it, from the job hash and the finished-shard count (also what the
        API's async poll path reads, see ``shared.job_reader``). None when absent, and also when the hash
        lacks a record's fields: a write racing a delete must read as the deleted job (404), never a 500."""
        if not data:
            return None
        rec: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, value in data.items():
            name = as_text(key)
            if name.startswith(_EXTRA):
                extra[name.removeprefix(_EXTRA)] = json.loads(value)
            else:
                rec[name] = as_text(value)
        if any(name not in rec for name in _REQUIRED):
            return None
        rec["progress_extra"] = extra
        for name in _JSON_FIELDS:
            rec[name] = json.loads(rec[name]) if rec.get(name) else None
        for name in ("created_at", "started_at", "finished_at"):
            rec[name] = float(rec[name]) if rec.get(name) else None
        for name in ("done", "total", "shards_total"):
            rec[name] = int(rec.get(name) or 0)
        rec["shards_done"] = int(shards_done)
        return rec

    def get(self, job_id: str, team: str | None = None) -> dict[str, Any] | None:
        """The public job object; None when absent or owned by another team (the API answers 404 alike)."""
        rec = self.raw(job_id)
        if rec is None or (team is not None and rec["team"] != team):
            return None
        return self.to_public(rec)

    def status(self, job_id: str) -> str | None:
        value = self.r.hget(keys.job(job_id), "status")
        return as_text(value) if value else None

    @staticmethod
    def to_public(rec: Mapping[str, Any], now: float | None = None) -> dict[str, Any]:
        """Shape a stored record as the API's job object, deriving rate and ETA from the counters."""
        now = time.time() if now is None else now
        done, total = rec["done"], rec["total"]
        started, finished = rec["started_at"], rec["finished_at"]
        rate = eta = None
        if started is not None:
            elapsed = (finished or now) - started
            if elapsed > 0 and done > 0:
                rate = round(done / elapsed, 3)
            if rec["status"] in TERMINAL_STATUSES:
                eta = 0.0
            elif rate:
                eta = round(max(total - done, 0) / rate, 1)
        progress = {
            "done": done,
            "total": total,
            "unit": rec.get("unit") or "rows",
            "rate_per_s": rate,
            "eta_s": eta,
            "shards_done": rec["shards_done"],
            "shards_total": rec["shards_total"],
            **(rec.get("progress_extra") or {}),
        }
        return {
            "id": rec["id"],
            "type": rec["type"],
            "status": rec["status"],
            "created_at": iso(rec["created_at"]),
            "started_at": iso(started),
            "finished_at": iso(finished),
            "params": rec["params"] or {},
            "progress": progress,
            "error": rec["error"],
            "result": rec["result"],
        }

    def list(
        self,
        team: str,
        *,
        job_type: str | None = None,
        status: str | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> tuple[list[dict[str, Any]], int]:
        """A team's jobs, newest first, optionally filtered; returns (page, total matching)."""
        ids = [as_text(i) for i in self.r.zrevrange(keys.team_jobs(team), 0, -1)]
        if job_type or status:
            with self.r.pipeline() as pipe:
                for job_id in ids:
                    pipe.hmget(keys.job(job_id), "type", "status")
                rows = pipe.execute()
            ids = [
                job_id
                for job_id, (t, s) in zip(ids, rows)
                if t is not None
                and (job_type is None or as_text(t) == job_type)
                and (status is None or as_text(s) == status)
            ]
        page = [rec for job_id in ids[offset : offset + limit] if (rec := self.get(job_id)) is not None]
        return page, len(ids)

    # --- status -----------------------------------------------------------------------------------------

    def transition(self, job_id: str, new_status: str, allowed_from: Iterable[str], **fields: Any) -> bool:
        """Atomically move to ``new_status`` if the current status is allowed; set ``fields`` with it."""
        if new_status not in JOB_STATUSES:
            raise ValueError(f"unknown job status {new_status!r}")
        allowed = list(allowed_from)
        flat: list[Any] = []
        for name, value in fields.items():
            flat += [
                name,
                json.dumps(value) if name in _JSON_FIELDS else repr(value) if isinstance(value, float) else value,
            ]
        answer = self._transition(keys=[keys.job(job_id)], args=[new_status, len(allowed), *allowed, *flat])
        return bool(answer == b"OK")

    def mark_running(self, job_id: str, message: str = "started") -> bool:
        """queued -> running (first worker to start); later callers get False and change nothing."""
        ok = self.transition(job_id, "running", ["queued"], started_at=time.time())
        if ok:
            self.add_event(job_id, "started", message)
        return ok

    def succeed(self, job_id: str, result: Mapping[str, Any] | None = None) -> bool:
        ok = self.transition(job_id, "succeeded", ACTIVE_STATUSES, finished_at=time.time(), result=dict(result or {}))
        if ok:
            self._account_result(job_id, dict(result or {}))
            self.add_event(job_id, "succeeded", "job succeeded", **(dict(result or {})))
        return ok

    def fail(self, job_id: str, code: str, message: str) -> bool:
        """Mark failed with an error object (first failure wins; a terminal job is left alone)."""
        ok = self.transition(
            job_id, "failed", ACTIVE_STATUSES, finished_at=time.time(), error={"code": code, "message": message}
        )
        if ok:
            self.r.set(keys.job_cancel(job_id), "failed")  # tell sibling shards to stop early
            self.r.zadd(keys.jobs_finished(), {job_id: time.time()})
            self.add_event(job_id, "failed", f"{code}: {message}")
        return ok

    def cancel(self, job_id: str) -> bool:
        """Request cancellation (idempotent): raise the flag, mark cancelled unless already terminal.

        KEEPTTL: cancelling a deleted job must not turn its expiring tombstone flag into a permanent key."""
        self.r.set(keys.job_cancel(job_id), "cancelled", keepttl=True)
        ok = self.transition(job_id, "cancelled", ACTIVE_STATUSES, finished_at=time.time())
        if ok:
            self.r.zadd(keys.jobs_finished(), {job_id: time.time()})
            self.add_event(job_id, "cancelled", "cancellation requested; queued shards will not run")
        return ok

    def should_stop(self, job_id: str) -> bool:
        """True once the job was cancelled, failed or deleted (flag raised, or its record gone): workers check
        this between batches, and a deleted job's queued shards and running training must stop too."""
        with self.r.pipeline(transaction=False) as pipe:  # one round trip
            pipe.exists(keys.job_cancel(job_id))
            pipe.exists(keys.job(job_id))
            flagged, present = pipe.execute()
        return bool(flagged) or not present

    # --- progress ---------------------------------------------------------------------------------------

    def add_progress(self, job_id: str, n: int, shard: int = 0) -> int:
        """Count ``n`` more units done by ``shard``; returns the job's new total done (0: the job is gone,
        nothing written)."""
        done = self._add_progress(keys=[keys.job(job_id), keys.job_shard_progress(job_id)], args=[shard, n])
        return 0 if done is None else int(done)

    def reset_shard(self, job_id: str, shard: int) -> int:
        """Forget what an earlier attempt of ``shard`` counted (called when a shard (re)starts); 0 when the job
        is gone."""
        prev = self._reset_shard(keys=[keys.job(job_id), keys.job_shard_progress(job_id)], args=[shard])
        return 0 if prev is None else int(prev)

    def shard_done(self, job_id: str, shard: int) -> int:
        """Record ``shard`` as finished; returns how many distinct shards are finished (0 when the job is gone:
        nothing recorded, so no merge is queued for it)."""
        count = self._shard_done(keys=[keys.job(job_id), keys.job_shards_done(job_id)], args=[shard])
        return 0 if count is None else int(count)

    def shards_finished(self, job_id: str) -> set[int]:
        return {int(s) for s in self.r.smembers(keys.job_shards_done(job_id))}

    def set_progress_extra(self, job_id: str, **fields: Any) -> None:
        """Merge type-specific progress fields (stage, epoch, losses...) into the job's progress object.

        Each field is a hash field of its own, written by one HSET: atomic, so writers in other processes
        never drop each other's fields, and values keep their exact JSON (no decode and re-encode in Lua).
        Nothing is written once the job is deleted (a lone ``extra:`` field would read as a broken record).
        """
        if fields:
            flat = [v for name, value in fields.items() for v in (_EXTRA + name, json.dumps(value))]
            self._hset(keys=[keys.job(job_id), keys.job(job_id)], args=flat)

    def record_shard_stats(self, job_id: str, shard: int, stats: Mapping[str, int]) -> None:
        """Keep a finished shard's output counters (a retried shard replaces its earlier ones); none for a
        deleted job, whose keys would otherwise outlive it."""
        self._hset(keys=[keys.job(job_id), keys.job_shard_stats(job_id)], args=[str(shard), json.dumps(dict(stats))])

    def shard_stats_total(self, job_id: str) -> dict[str, int]:
        """The counters of every recorded shard, summed."""
        totals: dict[str, int] = {}
        for doc in self.r.hvals(keys.job_shard_stats(job_id)):
            for name, value in json.loads(doc).items():
                totals[name] = totals.get(name, 0) + int(value)
        return totals

    # --- metrics time series ----------------------------------------------------------------------------

    def append_metric(self, job_ids: Iterable[str], point: Mapping[str, Any], max_points: int) -> None:
        """Append one training point to the series of each job (a child and its pipeline), keeping the
        newest ``max_points``; one script, so every series gets the point or none does (a deleted job's
        series is skipped, not recreated)."""
        pairs = [k for job_id in job_ids for k in (keys.job(job_id), keys.job_metrics(job_id))]
        if pairs:
            self._append_metric(keys=pairs, args=[json.dumps(dict(point)), max_points])

    def metrics(self, job_id: str) -> builtins.list[dict[str, Any]]:
        """The job's training time series, oldest first."""
        return [json.loads(doc) for doc in self.r.lrange(keys.job_metrics(job_id), 0, -1)]

    def metrics_from(self, job_id: str, start: int, count: int) -> tuple[builtins.list[dict[str, Any]], int]:
        """At most ``count`` points from index ``start`` on, and the series' length, in one round trip
        (what a stream reads each tick)."""
        with self.r.pipeline(transaction=False) as pipe:
            pipe.llen(keys.job_metrics(job_id))
            pipe.lrange(keys.job_metrics(job_id), start, start + count - 1)
            length, docs = pipe.execute()
        return [json.loads(doc) for doc in docs], int(length)

    # --- events -----------------------------------------------------------------------------------------

    def _event_keys(self, job_id: str) -> builtins.list[str]:
        return [keys.job(job_id), keys.job_events(job_id), keys.job_event_seq(job_id)]

    def add_event(self, job_id: str, kind: str, message: str, **data: Any) -> int:
        """Append a time-stamped event; returns its sequence number (0: the job is gone, nothing appended, so a
        late worker cannot leave events of a deleted job behind)."""
        doc = json.dumps({"ts": iso(time.time()), "kind": kind, "message": message, "data": data})
        seq = self._append_event(keys=self._event_keys(job_id), args=[doc, self.events_max])
        return 0 if seq is None else int(seq)

    def add_event_unless_stopped(self, job_id: str, kind: str, message: str, **data: Any) -> int | None:
        """Append an event only if the job was not cancelled, failed or deleted (one atomic step); None if it
        was."""
        doc = json.dumps({"ts": iso(time.time()), "kind": kind, "message": message, "data": data})
        seq = self._append_event_unless_stopped(
            keys=[*self._event_keys(job_id), keys.job_cancel(job_id)], args=[doc, self.events_max]
        )
        return None if seq is None else int(seq)

    def events(self, job_id: str, *, after: int = 0, limit: int = 100) -> builtins.list[dict[str, Any]]:
        """Events with seq > ``after``, oldest first (seqs are contiguous, so this is one LRANGE)."""
        first = self.r.lindex(keys.job_events(job_id), 0)
        if first is None:
            return []
        start = max(0, after - json.loads(first)["seq"] + 1)
        docs = self.r.lrange(keys.job_events(job_id), start, start + limit - 1)
        return [json.loads(d) for d in docs]

    # --- quotas: active jobs and stored bytes per team -------------------------------------------------

    def _admit_counted(
        self, team: str, job_id: str, now: float, record: Mapping[FieldT, EncodableT], limit: int
    ) -> None:
        flat = [str(v) for pair in record.items() for v in pair]
        answer = int(
            self._admit(
                keys=[keys.team_active(team), keys.job(job_id), keys.team_jobs(team)],
                args=[keys.job(""), limit, job_id, repr(now), *flat],
            )
        )
        if answer >= 0:
            raise ActiveLimitReached(answer, limit)

    def active_count(self, team: str) -> int:
        """The team's counted jobs that are queued or running now."""
        return int(self._count_active(keys=[keys.team_active(team)], args=[keys.job("")]))

    def _account_result(self, job_id: str, result: Mapping[str, Any]) -> None:
        """A job just succeeded: its result's bytes count as the team's stored bytes (and its rows out)."""
        job_type, team = self.r.hmget(keys.job(job_id), "type", "team")
        size = int(result.get("bytes") or 0)
        with self.r.pipeline() as pipe:
            pipe.zadd(keys.jobs_finished(), {job_id: time.time()})
            if team is not None and size:
                pipe.hset(keys.job(job_id), "stored_bytes", size)
                pipe.hincrby(keys.team_usage(as_text(team)), "stored_bytes", size)
            if team is not None and job_type is not None and as_text(job_type) == "augmentation":
                pipe.hincrby(keys.team_usage(as_text(team)), "rows_out", int(result.get("rows_out") or 0))
            pipe.execute()

    def release_bytes(self, job_id: str, team: str) -> int:
        """Stop counting a job's result as stored (its artifacts were removed); once only; returns the bytes."""
        return int(self._release_bytes(keys=[keys.job(job_id), keys.team_usage(team)]))

    def usage(self, team: str) -> dict[str, int]:
        """The team's counters: ``stored_bytes`` (datasets + results) and ``rows_out``."""
        raw = self.r.hgetall(keys.team_usage(team))
        counters = {as_text(k): int(v) for k, v in raw.items()}
        return {"stored_bytes": counters.get("stored_bytes", 0), "rows_out": counters.get("rows_out", 0)}

    def status_counts(self, team: str) -> dict[str, int]:
        """How many of the team's jobs are in each status."""
        ids = self.r.zrange(keys.team_jobs(team), 0, -1)
        with self.r.pipeline(transaction=False) as pipe:
            for job_id in ids:
                pipe.hget(keys.job(as_text(job_id)), "status")
            statuses = pipe.execute()
        counts: dict[str, int] = {}
        for value in statuses:
            if value is not None:
                counts[as_text(value)] = counts.get(as_text(value), 0) + 1
        return counts

    # --- retention: expiry and deletion of finished jobs ------------------------------------------------

    def finished_before(self, cutoff: float, limit: int = 500) -> builtins.list[str]:
        """Ids of jobs that finished before ``cutoff`` (epoch seconds), oldest first."""
        return [as_text(i) for i in self.r.zrangebyscore(keys.jobs_finished(), 0, cutoff, start=0, num=limit)]

    def claim_for_removal(self, job_ids: Sequence[str]) -> tuple[str, str] | None:
        """Mark finished jobs ``removing`` (a new job naming one is then refused), all or none: none while an
        active job outside ``job_ids`` reads one of them. Returns (job, its reader) when refused, else None."""
        ids = list(job_ids)
        refused = self._claim_for_removal(
            keys=[k for one in ids for k in (keys.job(one), keys.job_readers(one))],
            args=[len(ids), *ids, keys.job(""), *sorted(ACTIVE_STATUSES)],
        )
        return (as_text(refused[0]), as_text(refused[1])) if refused else None

    def expire(self, job_id: str, reason: str) -> bool:
        """A finished job's artifacts are gone: status ``expired`` (first caller only), bytes given back."""
        team = self.r.hget(keys.job(job_id), "team")
        ok = self.transition(job_id, "expired", ("succeeded", "failed", "cancelled"), expired_at=time.time())
        self.r.zrem(keys.jobs_finished(), job_id)
        if ok and team is not None:
            self.release_bytes(job_id, as_text(team))
            self.add_event(job_id, "expired", reason)
        return ok

    def delete(self, job_id: str, team: str) -> None:
        """Forget a finished job: its record, events, counters and metrics; its stored bytes are given back.

        Its stop flag is not removed but left as an expiring tombstone: a cancelled job's workers may not have
        noticed the cancel yet, and its queued shards have not run; both must still see "stop"."""
        self.release_bytes(job_id, team)
        with self.r.pipeline() as pipe:
            for key in (
                keys.job(job_id),
                keys.job_events(job_id),
                keys.job_event_seq(job_id),
                keys.job_shard_progress(job_id),
                keys.job_shards_done(job_id),
                keys.job_shard_stats(job_id),
                keys.job_metrics(job_id),
                keys.job_feed(job_id),
                keys.job_readers(job_id),
            ):
                pipe.delete(key)
            pipe.set(keys.job_cancel(job_id), "deleted", ex=DELETED_STOP_FLAG_S)
            pipe.zrem(keys.team_jobs(team), job_id)
            pipe.zrem(keys.jobs_finished(), job_id)
            pipe.srem(keys.team_active(team), job_id)
            pipe.execute()
