"""The database schema as release 0.1 made it (hand-written migrations, schema_version
1 or 2), frozen here so the upgrade tests keep testing against what is really out there."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Column, DateTime, Engine, Index, Integer, MetaData, String, Table, Text


def make(engine: Engine, version: int) -> None:
    """Create release 0.1's tables at ``version`` (1 or 2) with one subscriber and one
    finished send in them."""
    metadata = MetaData()
    version_table = Table("schema_version", metadata,
                          Column("version", Integer, nullable=False))
    subscribers = Table(
        "subscribers", metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("email", String(320), nullable=False),
        Column("email_key", String(320), nullable=False, unique=True),
        Column("name", String(200)), Column("timezone", String(64)),
        Column("status", String(16), nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("updated_at", DateTime(timezone=True), nullable=False),
        Index("ix_subscribers_status", "status", "id"))
    scheduled = [Column("batch_id", String(200)), Column("send_at", DateTime(timezone=True))]
    sends = Table(
        "sends", metadata,
        Column("issue", String(10), primary_key=True),
        Column("transport", String(16), nullable=False),
        Column("batch_size", Integer, nullable=False),
        Column("planned", Integer, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("finished_at", DateTime(timezone=True)),
        Column("owner", String(200)), Column("heartbeat", DateTime(timezone=True)),
        *(scheduled if version >= 2 else []))
    Table("batches", metadata,
          Column("issue", String(10), primary_key=True),
          Column("number", Integer, primary_key=True),
          Column("state", String(12), nullable=False), Column("size", Integer, nullable=False),
          Column("attempts", Integer, nullable=False, default=0),
          Column("provider_id", String(200)), Column("error", Text),
          Column("started_at", DateTime(timezone=True)),
          Column("finished_at", DateTime(timezone=True)),
          Index("ix_batches_state", "issue", "state"))
    Table("deliveries", metadata,
          Column("issue", String(10), primary_key=True),
          Column("subscriber_id", Integer, primary_key=True),
          Column("batch", Integer, nullable=False), Column("state", String(12), nullable=False),
          Index("ix_deliveries_batch", "issue", "batch"))
    stamp = dt.datetime(2024, 7, 23, 5, 0, tzinfo=dt.UTC)
    with engine.begin() as conn:
        metadata.create_all(conn)
        conn.execute(version_table.insert().values(version=version))
        conn.execute(subscribers.insert().values(
            email="ann@example.org", email_key="ann@example.org", name="Ann", status="active",
            created_at=stamp, updated_at=stamp))
        conn.execute(sends.insert().values(issue="2024-07-23", transport="outbox", batch_size=1000,
                                           planned=1, created_at=stamp, finished_at=stamp))
