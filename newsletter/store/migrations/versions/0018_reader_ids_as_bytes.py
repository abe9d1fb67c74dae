"""A batch's readers as bytes: the ids in order, each the distance from the one before as
a varint (about a byte an id), the same on both databases, in place of 0016's
``integer[]`` on PostgreSQL (4 bytes an id, out of the row: 5.8 MB for a planned million
against the 4.4 MB of the text lists before 0012) and JSON array on SQLite.

The format is db.py's ``encode_ids``; it is written out here too, as it was when this
revision was made, so that the revision never changes with the code. A send in progress
is carried across both ways: each list is read, the column's type changed, and the list
written back in the other form (a thousand rows a planned million, read in Python).

Revision ID: 0018
Revises: 0017
"""

from __future__ import annotations

from itertools import accumulate
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

_FORMAT = b"\x01"
_BEFORE = sa.JSON(none_as_null=True).with_variant(postgresql.ARRAY(sa.Integer), "postgresql")


def _encode(issue: str, number: int, ids: Any) -> bytes | None:
    """A list as bytes; NULL for an empty one (nobody left), as the code writes it. A
    list that is not distinct ids, none negative, is refused: no guess is written."""
    if not ids:
        return None
    if not isinstance(ids, list) or not all(type(i) is int and i >= 0 for i in ids) \
            or len(set(ids)) != len(ids):
        raise ValueError(f"revision 0018: batch {number} of issue {issue} has readers "
                         f"{str(ids)[:80]}, not a list of distinct reader ids; repair or "
                         "clear the row (batches.readers), then open the database again")
    ordered = sorted(ids)
    numbers = [ordered[0], *map(int.__sub__, ordered[1:], ordered[:-1])]
    out = bytearray(_FORMAT)
    for number in numbers:
        while number >= 0x80:
            out.append(number & 0x7F | 0x80)
            number >>= 7
        out.append(number)
    return bytes(out)


def _decode(data: bytes) -> list[int]:
    numbers: list[int] = []
    number = shift = 0
    for byte in data[1:]:
        number |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            numbers.append(number)
            number = shift = 0
    return list(accumulate(numbers))


def _lists(kind: sa.types.TypeEngine[Any]) -> list[tuple[str, int, Any]]:
    batches = sa.table("batches", sa.column("issue", sa.String), sa.column("number", sa.Integer),
                       sa.column("readers", kind))
    conn = op.get_bind()
    return [(row[0], row[1], row[2]) for row in conn.execute(
        sa.select(batches.c.issue, batches.c.number, batches.c.readers)
        .where(batches.c.readers.is_not(None)))]


def _write(kind: sa.types.TypeEngine[Any], rows: list[tuple[str, int, Any]]) -> None:
    if not rows:
        return
    batches = sa.table("batches", sa.column("issue", sa.String), sa.column("number", sa.Integer),
                       sa.column("readers", kind))
    op.get_bind().execute(
        batches.update().where(batches.c.issue == sa.bindparam("i"),
                               batches.c.number == sa.bindparam("n"))
        .values(readers=sa.bindparam("r", type_=kind)),
        [{"i": issue, "n": number, "r": value} for issue, number, value in rows])


def _retype(kind: sa.types.TypeEngine[Any]) -> None:
    # batches has no trigger (0014's are on subscribers and signups): SQLite's copy of
    # the table in batch mode loses nothing. The lists were read first: NULL meanwhile.
    with op.batch_alter_table("batches") as batch:
        batch.alter_column("readers", type_=kind, postgresql_using="NULL")


def upgrade() -> None:
    rows = _lists(_BEFORE)
    _retype(sa.LargeBinary())
    _write(sa.LargeBinary(), [(i, n, _encode(i, n, ids)) for i, n, ids in rows])


def downgrade() -> None:
    rows = _lists(sa.LargeBinary())
    _retype(_BEFORE)
    _write(_BEFORE, [(i, n, _decode(bytes(blob))) for i, n, blob in rows])
