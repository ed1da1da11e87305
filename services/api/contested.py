"""The current contested list, kept in memory from the change feed.

Nearly every write changes the first page of `/v1/contested` (a claim of a share under 100 makes a
place contested, or moves it in the list's order), so under writes its pollers miss on nearly
every step of the read models. Recomputing the page in SQL (a query on the status index, decoding,
views, JSON) makes a poll's p99 a recomputation under load. Kept here instead: every currently
contested place's view, in the list's order, so that a page is a slice of a list in memory.

The views are the change feed's (`services.api.stream` reads it once per step and the answer cache
passes each step's changes on here): the same JSON as `/v1/places/{id}`, named as of the feed's
snapshot, exactly what `reads.contested` builds for a page. A feed read in the snapshot of version
V holds every place changed after the previous step, each in its state at V; so applying it to the
list known at a version at or before V gives the list at V. What is known is dropped when a
replay's generation arrives, and learnt again (from SQL, `reads.contested_views`) by the next
computation that does not find it here.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from services.api import paging
from services.api.position import Version
from services.api.reads import by_contest, contest_cursor

Touch = tuple[int, dict[str, Any]]  # as in services.api.cache: a log position and a place's new state


@dataclass(frozen=True)
class Contested:
    """The contested places at one version of the read models: by place id, and in the list's
    order (`ordered`, with their sort keys in `keys`: a page starts where a cursor bisects them)."""

    version: Version
    views: dict[str, dict[str, Any]]
    keys: list[tuple[int, str]]
    ordered: list[dict[str, Any]]

    @classmethod
    def of(cls, version: Version, views: Iterable[dict[str, Any]]) -> Contested:
        ordered = sorted(views, key=by_contest)
        by_id = {view["place_id"]: view for view in ordered}
        return cls(version, by_id, [by_contest(view) for view in ordered], ordered)

    def page(self, cursor: list[Any] | None, limit: int) -> dict[str, Any]:
        """The page `reads.contested` answers for `cursor` ([share, place id] of the last place of
        the page before) and `limit`."""
        start = 0 if cursor is None else bisect_right(self.keys, (-cursor[0], cursor[1]))
        return paging.page(self.ordered[start : start + limit + 1], limit, contest_cursor)

    def changed(self, version: Version, touched: Iterable[Touch]) -> Contested:
        """The list at `version`, after `touched`: each place taken out of its old place in the
        order, and put into its new one if it is still contested (not sorted again: a step touches
        a few places of a thousand)."""
        views, keys, ordered = dict(self.views), list(self.keys), list(self.ordered)
        for _, place in touched:
            old = views.pop(place["place_id"], None)
            if old is not None:
                at = bisect_left(keys, by_contest(old))
                del keys[at], ordered[at]
            if place["status"] == "contested":
                key = by_contest(place)
                at = bisect_left(keys, key)
                views[place["place_id"]] = place
                keys.insert(at, key)
                ordered.insert(at, place)
        return Contested(version, views, keys, ordered)


class ContestedMemory:
    """What is known of the contested list, if anything. Readers take `known` as it is (each
    Contested is never changed once made); the answer cache's lock orders the writers."""

    def __init__(self) -> None:
        self.known: Contested | None = None

    def learn(self, version: Version, views: Iterable[dict[str, Any]]) -> None:
        """The whole list at `version`, read in one snapshot."""
        self.known = Contested.of(version, views)

    def follow(self, version: Version, touched: Iterable[Touch]) -> None:
        """The read models reached `version`; `touched` are the place states changed on the way,
        each in its state at `version`."""
        known = self.known
        if known is None:
            return
        if version.generation != known.version.generation:
            self.known = None  # a replay swapped new read models in: learn them again
            return
        if version <= known.version:
            return  # learnt from a later snapshot: these states are no newer than what is known
        self.known = known.changed(version, touched)

    def at_least(self, least: Version) -> Contested | None:
        """The list, if it is known at `least` or later (see Version.reaches)."""
        known = self.known
        return known if known is not None and known.version.reaches(least) else None
