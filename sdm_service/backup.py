"""`sdm db backup FILE`: a consistent copy of the database while the service keeps running.

SQLite: the online backup API (sqlite3.Connection.backup) copies every page inside one read
transaction, so the copy is the database as of one moment even while patients are answering (WAL
lets the writers go on). PostgreSQL: pg_dump does the same from the server; the service cannot run
it for you (it needs the client tools and the owner's rights), so the command explains how.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from sdm_service.db import PRIVATE_FILE_MODE, sqlite_file


class BackupError(Exception):
    """Why no backup was written; the message is meant for the operator."""


@dataclass(frozen=True)
class BackupResult:
    path: Path
    size: int
    integrity: str  # SQLite's integrity_check of the copy: "ok"


def postgres_guidance(database_url: str) -> str:
    """How to back up and restore a PostgreSQL database with the standard tools."""
    parts = urlsplit(database_url.replace("+asyncpg", ""))
    server = f"{parts.hostname or 'HOST'}:{parts.port or 5432}"
    name = parts.path.lstrip("/") or "sdm"
    return "\n".join(
        [
            "This database is PostgreSQL: back it up with pg_dump, which copies a consistent",
            "snapshot while the service runs. Connect as the owner of the tables (the role that",
            "runs migrations):",
            "",
            "  pg_dump --format=custom --no-owner --file=sdm-$(date +%F).dump \\",
            f"    'postgresql://OWNER@{server}/{name}'",
            "",
            "Restore into a new, empty database (the app role must exist, as in deploy/postgres-init/):",
            "",
            "  createdb -O OWNER sdm_restored",
            "  pg_restore --no-owner --role=OWNER --exit-on-error \\",
            f"    --dbname='postgresql://OWNER@{server}/sdm_restored' sdm-YYYY-MM-DD.dump",
            "",
            "Then point SDM_DATABASE_URL at it: 'sdm export' of both databases gives the same records.",
        ]
    )


def backup_sqlite(database_url: str, target: Path, *, overwrite: bool = False) -> BackupResult:
    source = sqlite_file(database_url)
    if source is None:
        raise BackupError("An in-memory database cannot be backed up.")
    if not source.exists():
        raise BackupError(f"The database file {source} does not exist. Check SDM_DATABASE_URL.")
    target = target.expanduser().resolve()
    if target == source.resolve():
        raise BackupError("The backup must go to another file than the database itself.")
    if target.exists() and not overwrite:
        raise BackupError(f"{target} already exists; choose a new file name (or pass --force).")
    if not target.parent.is_dir():
        raise BackupError(f"The folder {target.parent} does not exist.")
    partial = target.with_name(f".{target.name}.partial")
    # The copy holds everything the database does: only this user may read it, from the start.
    os.close(os.open(partial, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, PRIVATE_FILE_MODE))
    try:
        with sqlite3.connect(source, timeout=10) as live, sqlite3.connect(partial) as copy:
            live.backup(copy)  # all pages in one step: one consistent moment
            copy.execute("PRAGMA journal_mode=DELETE")  # a single self-contained file
            integrity = str(copy.execute("PRAGMA integrity_check").fetchone()[0])
        if integrity != "ok":
            raise BackupError(f"The copy failed SQLite's integrity check: {integrity}")
        partial.replace(target)  # appears whole or not at all
    except (sqlite3.Error, OSError) as exc:
        raise BackupError(f"The backup failed: {exc}") from None
    finally:
        partial.unlink(missing_ok=True)
    return BackupResult(path=target, size=target.stat().st_size, integrity=integrity)
