"""Actors: the armed forces and groups that hold places, with the names reports call them by."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from services.domain.errors import Unresolved
from services.domain.names import name_key, nearest_names


@dataclass(frozen=True, slots=True)
class Actor:
    actor_id: str
    name: str
    aliases: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, self.actor_id, *self.aliases)


BUILT_IN: tuple[Actor, ...] = (
    Actor(
        "islamic-state",
        "Islamic State",
        (
            "IS",
            "ISIS",
            "ISIL",
            "Daesh",
            "Da'esh",
            "Islamic State of Iraq and the Levant",
            "Islamic State of Iraq and Syria",
            "IS fighters",
            "ISIS fighters",
            "Islamic State fighters",
        ),
    ),
    Actor(
        "iraqi-security-forces",
        "Iraqi Security Forces",
        (
            "Iraqi forces",
            "Iraqi army",
            "ISF",
            "Iraqi security forces",
            "Iraqi troops",
            "Iraqi Armed Forces",
            "Iraqi government forces",
        ),
    ),
    Actor(
        "syrian-arab-army",
        "Syrian Arab Army",
        (
            "Syrian Army",
            "SAA",
            "Syrian government forces",
            "Syrian army and its allies",
            "Syrian troops",
            "Syrian regime forces",
        ),
    ),
    Actor("syrian-democratic-forces", "Syrian Democratic Forces", ("SDF", "U.S.-backed forces")),
    Actor(
        "us-led-coalition",
        "US-led coalition",
        (
            "coalition",
            "CJTF-OIR",
            "U.S.-led coalition",
            "Combined Joint Task Force",
            "international coalition",
            "Operation Inherent Resolve",
        ),
    ),
    Actor("peshmerga", "Peshmerga", ("Kurdish Peshmerga", "Kurdistan Regional Guard")),
    Actor(
        "popular-mobilization-forces",
        "Popular Mobilization Forces",
        ("PMF", "PMU", "Popular Mobilization Units", "Hashd al-Shaabi", "al-Hashd al-Shaabi"),
    ),
)


class ActorIndex:
    """Resolves an actor's name or alias to its id; never guesses."""

    def __init__(self, actors: Iterable[Actor]) -> None:
        self._by_key: dict[str, Actor] = {}
        self._by_id: dict[str, Actor] = {}
        self._names: list[str] = []
        for actor in actors:
            self._by_id[actor.actor_id] = actor
            for name in actor.names:
                self._by_key.setdefault(name_key(name), actor)
                self._names.append(name)

    def resolve(self, name: str) -> Actor:
        """The actor `name` refers to; Unresolved (with the nearest names) when there is none."""
        actor = self._by_key.get(name_key(name))
        if actor is None:
            raise Unresolved("actor", name, nearest_names(name, self._names))
        return actor

    def knows_id(self, actor_id: str) -> bool:
        return actor_id in self._by_id

    def get(self, actor_id: str) -> Actor | None:
        return self._by_id.get(actor_id)

    @property
    def actors(self) -> list[Actor]:
        return sorted(self._by_id.values(), key=lambda a: a.actor_id)

    def clashes(self, actor: Actor) -> list[str]:
        """The names of `actor` that already refer to a different actor."""
        return [
            n
            for n in actor.names
            if (other := self._by_key.get(name_key(n))) is not None and other.actor_id != actor.actor_id
        ]
