"""Model references: a Hugging Face hub id ("name" or "owner/name") or a local ``save_pretrained`` folder.

transformers treats a folder it cannot find as a hub id and answers with a hub-id validation error ("Repo id
must use alphanumeric chars ..."), which hides the real mistake. Telling the two apart first lets every
loader say "no such folder" instead.
"""

from __future__ import annotations

from pathlib import Path


def looks_like_local_path(ref: str) -> bool:
    """Hub ids are 'name' or 'owner/name'; a leading '.', '/' or '~', a backslash or a second '/' is a folder."""
    return ref.startswith((".", "/", "~")) or ref.count("/") > 1 or "\\" in ref


def missing_local_model(ref: str) -> str | None:
    """A message when ``ref`` is meant as a local folder that does not exist; None when it may be loaded."""
    if looks_like_local_path(ref) and not Path(ref).expanduser().exists():
        return f"no such folder: {ref!r} (a model is a save_pretrained folder or a hub id such as 'owner/name')"
    return None
