"""What a model or vector reference sent over HTTP may point at, checked at submission (torch-free).

A team must not make the workers read any path on the server (``/etc/passwd`` as GloVe vectors, another
team's job folder as a teacher), and a job whose model cannot load should be refused at once, not fail on
a worker minutes later. So a reference over HTTP is one of:

* a folder under one of the operator's ``DISTILLERY_MODEL_ROOTS`` (an absolute path, or a path relative to
  a root); it is resolved, symlinks included, and must stay inside that root. A model folder must hold a
  ``config.json`` (and a tokenizer, where the job needs one);
* a hub id, only when ``DISTILLERY_ALLOW_HUB`` is on and the hub is not switched off (``HF_HUB_OFFLINE``);
* for GloVe: the built-in source's name, or a vector file under a root;
* ``{"job_id": ...}`` of a succeeded job of the same team (checked by ``workers.orchestration.references``).

The CLI, run by a local user on their own files, does not use this module. Messages name the field and
the reference, never what a file contains.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.model_refs import looks_like_local_path
from shared.settings import BUILTIN_GLOVE, Settings

#: Files any one of which makes a folder's tokenizer loadable.
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.txt",
    "vocab.json",
    "spiece.model",
    "sentencepiece.bpe.model",
    "spm.model",
)
#: Suffixes of the vector files ``workers.augment.glove`` reads (listed by GET /v1/models).
VECTOR_SUFFIXES = (".kv", ".bin", ".txt", ".vec")
#: Named GloVe sources a request may give without any file.
NAMED_GLOVE = (BUILTIN_GLOVE,)
#: How deep GET /v1/models looks under a root, and how many entries it lists at most.
_SCAN_DEPTH, _SCAN_MAX = 3, 500


#: What the Hugging Face hub accepts as a repository id: a name, or an owner and a name (each part at most 96).
HUB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?")
HUB_PART_MAX = 96


class ReferenceRefused(ValueError):
    """A reference a request may not use; the message names the field."""


@dataclass(frozen=True)
class ModelAccess:
    """The operator's rules for references over HTTP, built once from the settings."""

    roots: tuple[Path, ...]
    allow_hub: bool
    hub_offline: bool
    #: Folders no reference may enter even when a root contains them (job and dataset folders: use job ids).
    private: tuple[Path, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings) -> ModelAccess:
        data_dir = Path(settings.data_dir).resolve()
        named = [part.strip() for part in settings.model_roots.split(",") if part.strip()]
        roots = [Path(p).expanduser().resolve() for p in named] or [data_dir / "models"]
        offline = os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")
        return cls(
            roots=tuple(roots),
            allow_hub=settings.allow_hub,
            hub_offline=offline,
            private=(data_dir / "jobs", data_dir / "datasets", data_dir / "uploads", data_dir / "redis"),
        )

    # --- checks ------------------------------------------------------------------------------------------

    def model(self, ref: str, field: str, *, needs_tokenizer: bool = True) -> str:
        """The reference to store for a model: the resolved folder, or the hub id; ReferenceRefused if not allowed."""
        ref = ref.strip()
        if not ref:
            raise ReferenceRefused(f"field '{field}': empty model reference")
        folder = self._under_root(ref, field, must_exist=looks_like_local_path(ref))
        if folder is None:
            self._hub(ref, field)
            return ref
        if not folder.is_dir():
            raise ReferenceRefused(f"field '{field}': {ref!r} is not a folder (a model is a save_pretrained folder)")
        if not (folder / "config.json").is_file():
            raise ReferenceRefused(f"field '{field}': model folder {ref!r} has no config.json")
        if needs_tokenizer and not any((folder / name).is_file() for name in TOKENIZER_FILES):
            raise ReferenceRefused(f"field '{field}': model folder {ref!r} has no tokenizer files")
        return str(folder)

    def glove(self, ref: str, field: str = "glove") -> str:
        """A named GloVe source as is, or the resolved vector file under a root."""
        ref = ref.strip()
        if ref in NAMED_GLOVE:
            return ref
        path = self._under_root(ref, field, must_exist=True)
        if path is None or not path.is_file():
            named = ", ".join(repr(n) for n in NAMED_GLOVE)
            raise ReferenceRefused(f"field '{field}': {ref!r} is neither a named source ({named}) nor a vector file")
        return str(path)

    def _under_root(self, ref: str, field: str, *, must_exist: bool) -> Path | None:
        """The resolved path of ``ref`` inside a root; None for a hub-shaped ref no root holds.

        A refused path says only that it is outside the roots, not whether it exists.
        """
        if ref.startswith("~") or "\\" in ref or "\x00" in ref:
            raise ReferenceRefused(f"field '{field}': {ref!r} is not allowed (a folder under the model roots)")
        given = Path(ref)
        joined = [given] if given.is_absolute() else [root / given for root in self.roots]
        try:
            inside = [path for path in (p.resolve() for p in joined) if self._inside_root(path)]
            found = next((path for path in inside if path.exists()), None)
        except (OSError, RuntimeError) as exc:  # a name too long for the file system, a symlink loop: never a 500
            why = getattr(exc, "strerror", None) or "symlink loop"
            raise ReferenceRefused(
                f"field '{field}': {ref!r} is not a usable path ({why}); "
                "use a folder under the model roots (GET /v1/models lists them) or a job id"
            ) from None
        if found is not None:
            return found
        if not must_exist and not given.is_absolute() and not any(os.path.lexists(p) for p in joined):
            return None  # a hub-shaped name that no root holds
        roots = ", ".join(str(r) for r in self.roots)
        where = "does not exist under" if inside else "is not under"
        raise ReferenceRefused(
            f"field '{field}': {ref!r} {where} the model roots ({roots}); "
            "use a folder there (GET /v1/models lists them) or a job id"
        )

    def _inside_root(self, path: Path) -> bool:
        if any(path == p or path.is_relative_to(p) for p in self.private):
            return False
        return any(path == root or path.is_relative_to(root) for root in self.roots)

    def _hub(self, ref: str, field: str) -> None:
        if not HUB_ID.fullmatch(ref) or any(len(part) > HUB_PART_MAX for part in ref.split("/")) or ".." in ref:
            raise ReferenceRefused(
                f"field '{field}': {ref[:100]!r} is neither a folder under the model roots nor a hub id "
                f"('name' or 'owner/name', letters, digits, '-', '_', '.', at most {HUB_PART_MAX} characters each)"
            )
        if not self.allow_hub:
            raise ReferenceRefused(
                f"field '{field}': {ref!r} is a hub id and the hub is unreachable from this server "
                "(DISTILLERY_ALLOW_HUB is off); use a folder under the model roots (GET /v1/models lists them)"
            )
        if self.hub_offline:
            raise ReferenceRefused(f"field '{field}': {ref!r} is a hub id and the hub is unreachable (HF_HUB_OFFLINE)")

    # --- what a team may use -------------------------------------------------------------------------------

    def catalog(self) -> dict[str, Any]:
        """Model folders and vector files under the roots (a bounded scan), the named sources and the hub rule."""
        models: list[dict[str, Any]] = []
        vectors: list[dict[str, Any]] = []
        for root in self.roots:
            for folder, files in _walk(root):
                if len(models) + len(vectors) >= _SCAN_MAX:
                    break
                if "config.json" in files:
                    tokenizer = any(name in files for name in TOKENIZER_FILES)
                    models.append({"ref": str(folder), "root": str(root), "tokenizer": tokenizer})
                    continue
                vectors += [
                    {"ref": str(folder / name), "root": str(root)}
                    for name in sorted(files)
                    if name.endswith(VECTOR_SUFFIXES)
                ]
        return {
            "roots": [str(r) for r in self.roots],
            "hub": {"allowed": self.allow_hub and not self.hub_offline},
            "models": models,
            "glove": [{"ref": name, "root": None} for name in NAMED_GLOVE] + vectors[:_SCAN_MAX],
        }


def _walk(root: Path) -> Iterator[tuple[Path, list[str]]]:
    """(folder, file names) under ``root``, at most ``_SCAN_DEPTH`` levels down, without leaving the root."""
    if not root.is_dir():
        return
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        depth = len(Path(dirpath).relative_to(root).parts)
        if depth >= _SCAN_DEPTH:
            dirnames.clear()
        dirnames.sort()
        if "config.json" in filenames:
            dirnames.clear()  # a model folder's sub-folders are its own business
        yield Path(dirpath), filenames
