"""What an ACLED row needs around its report's recording, in the import's transaction.

Before: every actor name the mapping table does not know must resolve to a Frontline actor; one
that does not is registered as a new actor (`ABBR: Name` gives the name and an alias, the ACLED name
is kept as another), or, with `--unknown-actors reject`, its row is refused. After: a place that a
row's claim created keeps ACLED's `admin1`..`admin3` as its attributes.

Registrations happen in the chunk's transaction, so a chunk that rolls back registers nothing;
`finish` then forgets what it staged, and the importer retries the chunk line by line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa
from pydantic import ValidationError

from services.acled.actors import split_abbreviation
from services.acled.rows import Mapped
from services.domain.actors import Actor, ActorIndex
from services.domain.errors import Unresolved
from services.domain.names import name_key, slugify
from services.importer import Report, validation_reasons
from services.ingest.problems import NameClash, Rejected
from services.ingest.registry import register_actor
from services.ingest.reports import Outcome, Result
from services.ingest.schemas import ActorIn
from services.store import places as place_store
from services.store.actors import ActorDirectory

MAX_ID = 200  # the length of an actor id column


@dataclass
class AcledStage:
    directory: ActorDirectory
    reject_unknown: bool = False
    registered: list[tuple[str, Actor]] = field(default_factory=list)  # (ACLED name, new actor)
    _staged: list[tuple[str, Actor]] = field(default_factory=list)

    def before(self, conn: sa.Connection, chunk: Sequence[Report]) -> dict[int, str]:
        refused: dict[int, str] = {}
        for report in chunk:
            mapped: Mapped = report.extra
            unknown = [name for name in mapped.unmapped if not self._resolves(conn, name)]
            if unknown and self.reject_unknown:
                names = ", ".join(map(repr, unknown))
                refused[report.number] = f"unknown actor {names} (not in the actor map; rejected by option)"
                continue
            try:
                for name in unknown:
                    self._staged.append((name, self._register(conn, name)))
            except (NameClash, Rejected, ValidationError) as exc:
                reason = validation_reasons(exc) if isinstance(exc, ValidationError) else str(exc)
                refused[report.number] = f"actor {unknown[0]!r} cannot be registered: {reason}"
        return refused

    def after(self, conn: sa.Connection, chunk: Sequence[Report], results: Sequence[Result]) -> None:
        for report, result in zip(chunk, results, strict=True):
            admin = report.extra.admin
            if not (admin and isinstance(result, Outcome) and result.created):
                continue
            for event in result.answer.events:
                if event.place_created:
                    place_store.add_attributes(conn, event.place_id, admin)

    def finish(self, committed: bool) -> None:
        if committed:
            self.registered.extend(self._staged)
        self._staged.clear()

    def _resolves(self, conn: sa.Connection, name: str) -> bool:
        try:
            self.directory.resolve(conn, name)
        except Unresolved:
            return False
        return True

    def _register(self, conn: sa.Connection, acled_name: str) -> Actor:
        """A new actor for an ACLED name: `ABBR: Name` is named Name, with ABBR and the ACLED name
        as aliases, less any alias another actor already answers to (an alias must not steal)."""
        name, abbreviation = split_abbreviation(acled_name)
        index = self.directory.index(conn, reload=True)
        aliases = [
            alias
            for alias in dict.fromkeys([abbreviation or "", acled_name])
            if alias and name_key(alias) and name_key(alias) != name_key(name) and not _taken(index, alias)
        ]
        base = slugify(name)[:MAX_ID].strip("-")
        actor_id, n = base, 1
        while index.knows_id(actor_id):
            n += 1
            actor_id = f"{base[: MAX_ID - len(str(n)) - 1]}-{n}"
        body = ActorIn(name=name, aliases=aliases, actor_id=actor_id)
        return register_actor(conn, body, self.directory).value


def _taken(index: ActorIndex, alias: str) -> bool:
    try:
        index.resolve(alias)
    except Unresolved:
        return False
    return True
