"""`column IN (a whole list)` as one bound parameter, so the statement text never changes.

SQLAlchemy's `in_()` renders one placeholder per value: each list length is another
statement to compile and, on SQLite, to prepare. Here the list travels as one value, a
JSON array read with `json_each` on SQLite and an array with `= ANY(...)` on PostgreSQL,
and the statement is compiled and prepared once.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from sqlalchemy import ColumnElement, String, Text, any_, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import QueryableAttribute, Session


def one_of(
    session: Session, column: QueryableAttribute[Any], values: Collection[Any]
) -> ColumnElement[bool]:
    """`column IN values`, with `values` bound as a single parameter."""
    if session.get_bind().dialect.name == "postgresql":
        # text[], not varchar(n)[]: a cast to varchar(n) would cut longer values silently
        element = Text() if isinstance(column.type, String) else column.type
        return column == any_(bindparam(None, list(values), type_=ARRAY(element)))
    listed = func.json_each(bindparam(None, json.dumps(list(values)), type_=String())).table_valued(
        "value"
    )
    return column.in_(select(listed.c.value))
