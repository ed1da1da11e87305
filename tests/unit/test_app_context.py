"""An app's context: each part provided once, started in order, stopped in the reverse order."""

import pytest

from services.web.context import AppContext


class Part:
    def __init__(self, name: str, journal: list[str]) -> None:
        self.name, self.journal = name, journal

    def start(self) -> None:
        self.journal.append(f"start {self.name}")

    def stop(self) -> None:
        self.journal.append(f"stop {self.name}")


class First(Part): ...


class Second(Part): ...


class Runtime:
    def __init__(self, journal: list[str]) -> None:
        self.journal = journal

    def close(self) -> None:
        self.journal.append("close runtime")


def context(journal: list[str]) -> AppContext:
    return AppContext(Runtime(journal), owns_runtime=True)  # type: ignore[arg-type]


def test_parts_stop_in_the_reverse_order_of_their_start_and_the_runtime_closes_last() -> None:
    journal: list[str] = []
    app = context(journal)
    first = app.start(First, First("first", journal))
    app.start(Second, Second("second", journal))
    assert app.get(First) is first
    app.close()
    assert journal == ["start first", "start second", "stop second", "stop first", "close runtime"]


def test_a_kind_is_provided_once_so_no_part_silently_replaces_another() -> None:
    app = context([])
    app.provide(First, First("one", []))
    with pytest.raises(ValueError, match="already has a First"):
        app.provide(First, First("two", []))


def test_a_missing_part_is_named() -> None:
    app = context([])
    assert app.find(Second) is None
    with pytest.raises(LookupError, match="no Second"):
        app.get(Second)


def test_a_part_that_fails_to_stop_does_not_keep_the_others_running() -> None:
    journal: list[str] = []
    app = context(journal)
    app.start(First, First("first", journal))

    class Broken(Part):
        def stop(self) -> None:
            raise RuntimeError("stuck")

    app.start(Broken, Broken("broken", journal))
    with pytest.raises(RuntimeError):
        app.close()
    assert journal[-2:] == ["stop first", "close runtime"]
