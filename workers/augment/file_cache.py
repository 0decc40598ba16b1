"""Small per-process caches of loaded models and word lists that notice a file replaced at the same path.

Long-lived workers load an MLM, a GloVe index or a stop-word list once and reuse it for later shards. Keyed by
path alone, a file replaced in place kept being used until the worker restarted; the keys therefore carry the
files' modification stamps, and the caches are bounded so that replaced or rarely used entries drop out.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Generic, TypeVar

V = TypeVar("V")

#: The files of a model folder whose change means a new model: config, weights, tokenizer.
FOLDER_FILES = (
    "config.json",
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "spiece.model",
    "sentencepiece.bpe.model",
)

Stamp = tuple[tuple[str, int, int], ...]


def file_stamp(source: str | os.PathLike[str]) -> Stamp:
    """(name, mtime_ns, size) of a local file, or of a model folder's config, weight and tokenizer files;
    () for what is not on disk (a hub id, a built-in name)."""
    path = Path(source).expanduser()
    files = [path] if path.is_file() else [path / name for name in FOLDER_FILES] if path.is_dir() else []
    stamp = []
    for file in files:
        try:
            st = file.stat()
        except OSError:
            continue
        stamp.append((file.name, st.st_mtime_ns, st.st_size))
    return tuple(stamp)


class LruCache(Generic[V]):
    """At most ``size`` loaded values, least recently used dropped first; callers hold their own lock."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[Hashable, V] = OrderedDict()

    def get(self, key: Hashable, load: Callable[[], V]) -> V:
        """The value for ``key``, loaded on a miss."""
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        value = self._items[key] = load()
        while len(self._items) > self.size:
            self._items.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._items)
