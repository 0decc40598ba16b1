"""Runs one `distill` from a JSON config; launched plainly or under torchrun by tests/test_distill_ddp.py.

Each rank also writes the rows it trained on, step by step (``rows-rank<N>.json`` beside the config): a
recording wrapper around the real ``Dist.shard`` that returns exactly what it returns, so the test can check
that the ranks split every global batch between them instead of each training on all of it."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from workers.distill.distributed import Dist
from workers.distill.models import StudentSpec
from workers.distill.train import DistillConfig, distill

_real_shard = Dist.shard
_seen: list[list[list[int]]] = []


def _recording_shard(self: Dist, rows):
    mine = _real_shard(self, rows)
    _seen.append([list(row.input_ids) for row in mine])
    return mine


def main(config_path: str) -> None:
    spec = json.loads(Path(config_path).read_text())
    spec["student"] = StudentSpec(**spec["student"])
    spec["output_dir"] = Path(spec["output_dir"])
    Dist.shard = _recording_shard  # type: ignore[method-assign]
    distill(DistillConfig(**spec))
    rank = os.environ.get("RANK", "0")
    Path(config_path).with_name(f"{Path(config_path).stem}-rows-rank{rank}.json").write_text(json.dumps(_seen))


if __name__ == "__main__":
    main(sys.argv[1])
