"""Write-side failures the routes turn into problem+json answers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from services.domain.errors import Unresolved


@dataclass
class FieldError:
    """One thing wrong with a request, where it is, and what might have been meant."""

    loc: list[str | int]
    msg: str
    type: str
    suggestions: list[str] | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"loc": self.loc, "msg": self.msg, "type": self.type}
        if self.suggestions is not None:
            out["suggestions"] = self.suggestions
        return out


@dataclass
class Rejected(Exception):
    """The request is well-formed but cannot be recorded as it stands (422); nothing was written."""

    errors: list[FieldError] = field(default_factory=list)

    def __str__(self) -> str:
        return "; ".join(f"{'.'.join(map(str, e.loc))}: {e.msg}" for e in self.errors)


@dataclass
class IdConflict(Exception):
    """A request id already used with a different body (409)."""

    kind: str
    request_id: str


@dataclass
class NameClash(Exception):
    """A place or actor whose id or a name is already taken by another (409)."""

    detail: str


@dataclass
class EventNotFound(Exception):
    """A correction or retraction names no claim event (404)."""

    event_id: str


@dataclass
class AlreadyRetracted(Exception):
    """A correction or retraction names a claim that has been retracted (409)."""

    event_id: str


# What an unmatched place name in a claim can do next, beside the nearest names.
PLACE_HINT = (
    "to record a new place, give the claim's country and location as well, "
    "or register it first with POST /v1/places"
)
NOT_SEARCHED = "names like it were not looked for: a request gets them for its first few unknown places"


def unknown_place(loc: list[str | int], exc: Unresolved) -> FieldError:
    """The error of a claim's place name that matches nothing: the nearest names, and how to go on.
    Where they were not searched for, the error says so and carries no `suggestions`."""
    if not exc.searched:
        return FieldError(loc, f"{exc}; {PLACE_HINT}; {NOT_SEARCHED}", "unknown_place")
    return FieldError(loc, f"{exc}; {PLACE_HINT}", "unknown_place", exc.suggestions)
