"""A process's wiring: settings, database, gazetteer, doorbell; built once in a lifespan."""

from __future__ import annotations

from dataclasses import dataclass, field

from redis import Redis

from services.config import Settings
from services.doorbell import Doorbell, NoDoorbell, QueueDoorbell, redis_connection
from services.gazetteer import Gazetteer
from services.gazetteer import load as load_gazetteer
from services.store.actors import ActorDirectory
from services.store.database import Database
from services.store.places import RecordedKeys
from services.store.read_models import PROJECTION


@dataclass
class Runtime:
    """Everything a request handler needs, created by the app's lifespan and closed by it."""

    settings: Settings
    db: Database
    doorbell: Doorbell = field(default_factory=NoDoorbell)
    redis: Redis | None = None
    _gazetteer: Gazetteer | None = None
    actors: ActorDirectory = field(default_factory=ActorDirectory)
    place_keys: RecordedKeys = field(default_factory=RecordedKeys)  # for "did you mean"
    replica: Database | None = None  # READ_DATABASE_URL: a hot standby the read routes use

    @property
    def gazetteer(self) -> Gazetteer:
        if self._gazetteer is None:
            self._gazetteer = load_gazetteer(self.settings.gazetteer_countries, self.settings.cache_dir)
        return self._gazetteer

    @property
    def read_db(self) -> Database:
        """Where reads of the read models go: the replica when one is configured."""
        return self.replica or self.db

    @classmethod
    def start(cls, settings: Settings, doorbell: Doorbell | None = None) -> Runtime:
        db = Database(settings.database_url)
        connection = redis_connection(settings.redis_url) if settings.redis_url else None
        if doorbell is None and connection is not None:
            doorbell = QueueDoorbell(connection, settings.queue_name, PROJECTION, settings.job_timeout)
        replica = Database(settings.read_database_url) if settings.read_database_url else None
        return cls(
            settings=settings, db=db, doorbell=doorbell or NoDoorbell(), redis=connection, replica=replica
        )

    def close(self) -> None:
        self.db.dispose()
        if self.replica is not None:
            self.replica.dispose()
        if self.redis is not None:
            self.redis.close()
