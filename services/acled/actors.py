"""ACLED's actor names, and the editable table that maps them to Frontline's actors.

ACLED names an actor with its period in office ("Military Forces of Syria (2000-2024)") and a group
often as `ABBR: Name` ("HTS: Hayat Tahrir al Sham"). The period is not part of who the actor is,
so it is dropped before matching; the abbreviation becomes an alias when the actor is new.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from services.domain.names import name_key

# "(2000-2024)", "(2000-)", "(1970-2000)": a span of years at the end of the name.
_PERIOD = re.compile(r"\s*\(\s*\d{4}\s*-\s*(?:\d{4})?\s*\)\s*$")
# "HTS: Hayat Tahrir al Sham": a short token without spaces, a colon, then the name.
_ABBREVIATED = re.compile(r"^(?P<abbr>[^\s:]{1,20}):\s+(?P<name>\S.*)$")

SHIPPED = "actors.toml"


def without_period(name: str) -> str:
    """The actor's name without ACLED's period suffix."""
    return _PERIOD.sub("", name).strip()


def split_abbreviation(name: str) -> tuple[str, str | None]:
    """(`Name`, `ABBR`) of an `ABBR: Name`; (`name`, None) when it has no abbreviation."""
    match = _ABBREVIATED.match(name)
    if match is None:
        return name, None
    return match["name"].strip(), match["abbr"]


class ActorMapError(ValueError):
    """The mapping table cannot be read (its file, or its shape)."""


@dataclass(frozen=True)
class ActorMap:
    """ACLED names (by name key, period dropped) -> the Frontline actor each means."""

    by_key: dict[str, str]
    origin: str

    def actor_for(self, acled_name: str) -> str | None:
        """The Frontline actor id for an ACLED name (period suffix ignored), or None if unmapped."""
        return self.by_key.get(name_key(without_period(acled_name)))

    @classmethod
    def load(cls, path: Path | None = None) -> ActorMap:
        """The table at `path`, or the one shipped with Frontline."""
        try:
            if path is None:
                text = resources.files(__package__).joinpath(SHIPPED).read_text(encoding="utf-8")
            else:
                text = path.read_text(encoding="utf-8")
            return cls.parse(tomllib.loads(text), str(path or SHIPPED))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ActorMapError(f"cannot read the actor map {path or SHIPPED}: {exc}") from None

    @classmethod
    def parse(cls, table: dict[str, Any], origin: str) -> ActorMap:
        by_key: dict[str, str] = {}
        for actor_id, entry in table.items():
            names = entry.get("acled") if isinstance(entry, dict) else None
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise ActorMapError(f"{origin}: [{actor_id}] needs `acled = [names...]`")
            for name in names:
                key = name_key(without_period(name))
                if by_key.get(key, actor_id) != actor_id:
                    raise ActorMapError(f"{origin}: {name!r} is mapped to {by_key[key]} and {actor_id}")
                by_key[key] = actor_id
        return cls(by_key, origin)
