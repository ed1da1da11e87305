"""The edges that keep data: the event store, the registries and the read-model tables."""
