"""Runs one `distill` from a JSON config; launched plainly or under torchrun by tests/test_distill_ddp.py."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from workers.distill.models import StudentSpec
from workers.distill.train import DistillConfig, distill


def main(config_path: str) -> None:
    spec = json.loads(Path(config_path).read_text())
    spec["student"] = StudentSpec(**spec["student"])
    spec["output_dir"] = Path(spec["output_dir"])
    distill(DistillConfig(**spec))


if __name__ == "__main__":
    main(sys.argv[1])
