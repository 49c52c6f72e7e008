"""`column IN (a whole list)` as one bound parameter, so the statement text never changes.

SQLAlchemy's `in_()` renders one placeholder per value: each list length is another
statement to compile and, on SQLite, to prepare. Here the list travels as one value, a
JSON array read with `json_each` on SQLite and an array with `= ANY(...)` on PostgreSQL,
and the statement is compiled and prepared once.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Connection,
    String,
    Text,
    any_,
    bindparam,
    func,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import QueryableAttribute, Session
from sqlalchemy.types import TypeEngine


def one_of(
    session: Session, column: QueryableAttribute[Any], values: Collection[Any]
) -> ColumnElement[bool]:
    """`column IN values`, with `values` bound as a single parameter."""
    dialect = session.get_bind().dialect.name
    return _in(dialect, column, lambda type_: bindparam(None, list_value(dialect, values), type_))


def in_param(
    dialect: str, column: ColumnElement[Any] | QueryableAttribute[Any], name: str
) -> ColumnElement[bool]:
    """`column IN` the list bound later as `:name` (its value from `list_value`).

    For a statement built once, at import, per dialect: building a statement and its cache
    key cost several times running it (about 250 µs against 40 µs on SQLite).
    """
    return _in(dialect, column, lambda type_: bindparam(name, type_=type_))


def _in(
    dialect: str,
    column: ColumnElement[Any] | QueryableAttribute[Any],
    parameter: Callable[[TypeEngine[Any]], BindParameter[Any]],
) -> ColumnElement[bool]:
    """`column IN` the list `parameter(its type)` binds."""
    if dialect == "postgresql":
        # text[], not varchar(n)[]: a cast to varchar(n) would cut longer values silently
        element = Text() if isinstance(column.type, String) else column.type
        return column == any_(parameter(ARRAY(element)))
    listed = func.json_each(parameter(String()))
    return column.in_(select(listed.table_valued("value").c.value))


def dialect_of(bind: Session | Connection) -> str:
    """ "postgresql" or "sqlite": the key of the statements built once per dialect."""
    dialect = bind.dialect if isinstance(bind, Connection) else bind.get_bind().dialect
    return "postgresql" if dialect.name == "postgresql" else "sqlite"


def in_list(dialect: str, name: str) -> str:
    """`IN` the list bound as `:name`, as SQL text to put after a column (for `text()`)."""
    if dialect == "postgresql":
        return f"= ANY(:{name})"
    return f"IN (SELECT value FROM json_each(:{name}))"


def list_value(dialect: str, values: Iterable[Any]) -> Any:
    """The value to bind for a list used by `one_of` or `in_list`."""
    return list(values) if dialect == "postgresql" else json.dumps(list(values))
