"""dedup: the shingle index keeps only its hash-led key; owners list their own rows

Each story and seed gets ``shingle_hashes``: its shingle hashes, sorted, packed as
big-endian signed 64-bit integers, filled here from the ``shingles`` rows. With it a
document's rows are deleted by primary key, so the ``ix_shingles_doc`` index goes. On
SQLite the table is rebuilt ``WITHOUT ROWID``: stored in its primary key, one B-tree
instead of three.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 05:00:00
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

import sqlalchemy as sa

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_OWNERS = {"story": "stories", "seed": "seed_documents"}
_BATCH = 1000


def upgrade() -> None:
    bind = op.get_bind()
    for table in _OWNERS.values():
        op.add_column(table, sa.Column("shingle_hashes", sa.LargeBinary(), nullable=True))
    if bind.dialect.name == "postgresql":
        for kind, table in _OWNERS.items():
            op.execute(
                f"UPDATE {table} SET shingle_hashes = packed.hashes FROM ("
                "  SELECT doc_id, string_agg(int8send(hash), ''::bytea ORDER BY hash) AS hashes"
                f"  FROM shingles WHERE doc_kind = '{kind}' GROUP BY doc_id"
                f") AS packed WHERE {table}.id = packed.doc_id"
            )
        op.drop_index("ix_shingles_doc", table_name="shingles")
        return
    _fill_sqlite(bind)
    _create_shingles("shingles_by_hash", sqlite_with_rowid=False)
    op.execute(
        "INSERT INTO shingles_by_hash (hash, doc_kind, doc_id) "
        "SELECT hash, doc_kind, doc_id FROM shingles ORDER BY hash, doc_kind, doc_id"
    )
    op.drop_index("ix_shingles_doc", table_name="shingles")
    op.drop_table("shingles")
    op.rename_table("shingles_by_hash", "shingles")


def _create_shingles(name: str, **options: bool) -> None:
    """The shingles table under `name` (renamed once filled), with dialect `options`."""
    op.create_table(
        name,
        sa.Column("hash", sa.BigInteger(), nullable=False),
        sa.Column("doc_kind", sa.String(length=8), nullable=False),
        sa.Column("doc_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("hash", "doc_kind", "doc_id", name=op.f("pk_shingles")),
        **options,
    )


def _fill_sqlite(bind: sa.Connection) -> None:
    """Pack each document's rows into its owner's ``shingle_hashes``, a batch at a time."""
    for kind, table in _OWNERS.items():
        update = sa.text(f"UPDATE {table} SET shingle_hashes = :hashes WHERE id = :id")
        batch: list[dict[str, object]] = []
        for doc_id, hashes in _documents(bind, kind):
            batch.append({"id": doc_id, "hashes": struct.pack(f">{len(hashes)}q", *hashes)})
            if len(batch) == _BATCH:
                bind.execute(update, batch)
                batch = []
        if batch:
            bind.execute(update, batch)


def _documents(bind: sa.Connection, kind: str) -> Iterator[tuple[int, list[int]]]:
    """(doc_id, sorted hashes) of every document of `kind`, read in `ix_shingles_doc` order."""
    rows = bind.execute(
        sa.text("SELECT doc_id, hash FROM shingles WHERE doc_kind = :kind ORDER BY doc_id, hash"),
        {"kind": kind},
    )  # read as it goes: SQLite lets this connection update the owners meanwhile
    current: int | None = None
    hashes: list[int] = []
    for doc_id, hash_ in rows:
        if doc_id != current:
            if current is not None:
                yield current, hashes
            current, hashes = doc_id, []
        hashes.append(hash_)
    if current is not None:
        yield current, hashes


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.create_index("ix_shingles_doc", "shingles", ["doc_kind", "doc_id"], unique=False)
    else:
        _create_shingles("shingles_with_rowid")
        op.execute(
            "INSERT INTO shingles_with_rowid (hash, doc_kind, doc_id) "
            "SELECT hash, doc_kind, doc_id FROM shingles"
        )
        op.drop_table("shingles")
        op.rename_table("shingles_with_rowid", "shingles")
        op.create_index("ix_shingles_doc", "shingles", ["doc_kind", "doc_id"], unique=False)
    for table in _OWNERS.values():
        # SQLite 3.35+ drops a column in place, without copying the table.
        op.execute(f"ALTER TABLE {table} DROP COLUMN shingle_hashes")
