"""Call records: SQLAlchemy models, migrations, the writer task and its journal, queries."""

from callguard.store.db import make_engine, migrate, write_records
from callguard.store.queries import (
    add_block,
    block_entry,
    list_blocks,
    list_calls,
    list_messages,
    list_violations,
    mark_message_done,
    remove_block,
)
from callguard.store.writer import JournalInUse, RecordWriter

__all__ = [
    "JournalInUse",
    "RecordWriter",
    "add_block",
    "block_entry",
    "list_blocks",
    "list_calls",
    "list_messages",
    "list_violations",
    "make_engine",
    "mark_message_done",
    "migrate",
    "remove_block",
    "write_records",
]
