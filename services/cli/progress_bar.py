"""Progress on the terminal: training ProgressEvents as tqdm bars (one per stage) for `distillery finetune` /
`distill`, and a rows bar for the commands that run over a file (augment, predict, evaluate)."""

from __future__ import annotations

import sys
import time
from typing import Any


class TqdmProgress:
    """A ProgressCallback: one bar per stage, loss components in the postfix, evaluations printed above."""

    def __init__(self, disable: bool | None = None, log_every_s: float = 30.0) -> None:
        self._bar: Any = None
        self._stage: str | None = None
        self._disable = (not sys.stderr.isatty()) if disable is None else disable
        self._log_every_s = log_every_s
        self._last_log = 0.0

    def __call__(self, event: Any) -> None:
        from tqdm import tqdm

        if event.metrics is not None or event.message:
            text = event.message or ""
            if event.metrics:  # no dev set: an evaluation without metrics prints nothing
                shown = ", ".join(f"{k} {v:.4f}" for k, v in event.metrics.items())
                text = f"{text} " if text else f"{event.stage} after epoch {event.epoch}: "
                text += shown
            if text:
                tqdm.write(text, file=sys.stderr)
            if event.metrics is not None or text.startswith("warning"):
                return
        if self._disable:  # not a terminal (a log file): a plain line now and then instead of a bar
            now = time.monotonic()
            if event.losses and (now - self._last_log >= self._log_every_s or event.step == event.total_steps):
                self._last_log = now
                losses = " ".join(f"{k} {v:.4g}" for k, v in event.losses.items())
                print(
                    f"{event.stage} epoch {event.epoch} step {event.step}/{event.total_steps} {losses} "
                    f"{event.samples_per_s:.1f} samples/s",
                    file=sys.stderr,
                    flush=True,
                )
            return
        if event.stage != self._stage:
            self.close()
            self._stage = event.stage
            self._bar = tqdm(total=event.total_steps, desc=event.stage, unit="step", disable=self._disable)
        bar = self._bar
        if bar.total != event.total_steps:
            bar.total = event.total_steps
        bar.n = event.step
        if event.losses:
            postfix = {k: f"{v:.4g}" for k, v in event.losses.items() if k != "total"}
            postfix["ep"] = event.epoch
            postfix["samples/s"] = f"{event.samples_per_s:.0f}"
            bar.set_postfix(postfix, refresh=False)
        bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def quiet_transformers() -> None:
    """Keep the terminal for our own bar: no weight-loading bars or init warnings from transformers."""
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


class RowProgress:
    """A tqdm bar (rows/s, ETA) on a terminal; in a log file a plain line now and then instead."""

    def __init__(self, total: int, desc: str, log_every_s: float = 30.0) -> None:
        from tqdm import tqdm

        self.total = total
        self.desc = desc
        self.done = 0
        self.started = self.last_log = time.monotonic()
        self.log_every_s = log_every_s
        self.bar = tqdm(total=total, unit="row", desc=desc, file=sys.stderr) if sys.stderr.isatty() else None

    def update(self, rows: int) -> None:
        self.done += rows
        if self.bar is not None:
            self.bar.update(rows)
            return
        now = time.monotonic()
        if now - self.last_log >= self.log_every_s and self.done < self.total:
            self.last_log = now
            rate = self.done / max(now - self.started, 1e-9)
            eta = (self.total - self.done) / max(rate, 1e-9)
            print(
                f"{self.desc}: {self.done}/{self.total} rows, {rate:.1f} rows/s, ETA {eta:.0f} s",
                file=sys.stderr,
                flush=True,
            )

    def __enter__(self) -> RowProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()
