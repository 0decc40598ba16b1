"""Bearer-key authentication: DISTILLERY_API_KEYS maps keys to teams ('team:key,team2:key2')."""

from __future__ import annotations

import hmac


def parse_api_keys(spec: str) -> dict[str, str]:
    """'team:key,team2:key2' -> {key: team}. Raises ValueError naming a malformed entry."""
    keys: dict[str, str] = {}
    for entry in (e.strip() for e in spec.split(",")):
        if not entry:
            continue
        team, sep, key = entry.partition(":")
        if not sep or not team.strip() or not key.strip():
            raise ValueError(f"DISTILLERY_API_KEYS entry {entry!r} is not 'team:key'")
        keys[key.strip()] = team.strip()
    return keys


def team_for_key(keys: dict[str, str], presented: str) -> str | None:
    """The team owning ``presented``, comparing in constant time against every key."""
    found = None
    for key, team in keys.items():
        if hmac.compare_digest(key.encode(), presented.encode()):
            found = team
    return found
