"""Alembic environment: callguard hands in a connection (see store.db.migrate)."""

from alembic import context

from callguard.store.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise SystemExit("callguard migrations run through `callguard db upgrade` or `callguard run`")
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
