"""Call records: SQLAlchemy models, migrations, the writer task and its journal, queries."""

from callguard.store.db import list_calls, list_violations, make_engine, migrate, write_records
from callguard.store.writer import RecordWriter

__all__ = ["RecordWriter", "list_calls", "list_violations", "make_engine", "migrate", "write_records"]
