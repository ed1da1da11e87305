"""Domain errors: raised by the pure core, translated to HTTP problems only in the routes."""

from __future__ import annotations

from dataclasses import dataclass, field


class DomainError(Exception):
    """Base of every error the domain raises."""


class InvalidTime(DomainError, ValueError):
    """A time that is not ISO 8601 at one of the accepted precisions, or is impossible."""


@dataclass
class InvalidClaim(DomainError):
    """A claim the control algebra cannot apply (e.g. an actor taking a place from itself)."""

    message: str

    def __str__(self) -> str:
        return self.message


@dataclass
class Unresolved(DomainError):
    """A name (of a place or an actor) that matches nothing known; carries the nearest candidates."""

    kind: str
    name: str
    suggestions: list[str] = field(default_factory=list)
    searched: bool = True  # False: no nearest names were looked for (their search is rationed)

    def __str__(self) -> str:
        return f"unknown {self.kind} {self.name!r}{did_you_mean(self.suggestions)}"


def did_you_mean(suggestions: list[str]) -> str:
    """The hint that ends a message about a name that matched nothing ("" with no candidates)."""
    return f"; did you mean {', '.join(suggestions)}?" if suggestions else ""
