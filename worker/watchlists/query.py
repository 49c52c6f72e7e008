"""The watchlist query language: a lexer, a parser, and the tree it builds.

Grammar (operators are upper case; lower-case `and`, `or`, `not`, `near` are words)::

    query    := or
    or       := and ("OR" and)*
    and      := near (["AND"] near)*          juxtaposed terms are ANDed (Google-style)
    near     := unary ("NEAR/" n unary)*      n words or fewer between the two sides
    unary    := ("NOT" | "-") unary | primary
    primary  := "(" query ")" | field ":" primary | ["="] word ["*"] | ["="] '"' phrase '"'
    field    := "title" | "summary"

A word that is the key of an alias (`us_steel`) stands for an OR of the alias's phrases;
a word shaped like a key (with an underscore) that is not a known alias is an error.
`=` before a word or phrase makes it case-sensitive and turns stemming off for it (`=USS`);
an alias phrase written with a leading `=` is case-sensitive too. A trailing `*` makes the
last word a prefix (`tariff*`). Precedence, tightest first: NEAR, NOT, AND, OR. A query must
be able to match on a positive term: `NOT steel` alone is refused. Errors are
`QuerySyntaxError` with the offset of the offending character.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from worker.errors import QuerySyntaxError
from worker.watchlists.textfold import fold, words

FIELDS = ("title", "summary")
DEFAULT_NEAR = 5
MAX_DEPTH = 64
MAX_LENGTH = 10_000
MIN_PREFIX = 2
# A bare word shaped like an alias key (letters, digits and an underscore): if it is not a
# known alias it is almost certainly a typo, so it is an error rather than a plain word.
_ALIAS_LIKE = re.compile(r"^[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)+$")


@dataclass(frozen=True, slots=True)
class Term:
    """A word or phrase: stems (or case-sensitive words), the last one maybe a prefix."""

    text: str
    stems: tuple[str, ...]
    cased: tuple[str, ...] | None = None
    prefix: bool = False


@dataclass(frozen=True, slots=True)
class AnyOf:
    """An alias: any of its phrases; it counts as one term named by the alias key."""

    text: str
    terms: tuple[Term, ...]


@dataclass(frozen=True, slots=True)
class And:
    """Every child matches."""

    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    """At least one child matches."""

    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not:
    """The child does not match."""

    child: Node


@dataclass(frozen=True, slots=True)
class Near:
    """Both sides match in the same field with at most `distance` words between them."""

    left: Node
    right: Node
    distance: int


@dataclass(frozen=True, slots=True)
class InField:
    """The child matches in the named field only."""

    field: str
    child: Node


Node = Term | AnyOf | And | Or | Not | Near | InField
Leaf = Term | AnyOf


@dataclass(frozen=True, slots=True)
class Query:
    """A parsed query: its text, its tree, and its positive leaves with their fields."""

    text: str
    root: Node
    leaves: tuple[tuple[Leaf, tuple[str, ...]], ...]


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str  # ( ) WORD PHRASE AND OR NOT NEAR NEG CASE FIELD
    text: str
    pos: int
    number: int = 0


_STOP = frozenset(' \t\r\n()"')


def _lex(query: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i, n = 0, len(query)
    while i < n:
        char = query[i]
        if char in " \t\r\n":
            i += 1
        elif char in "()":
            toks.append(_Tok(char, char, i))
            i += 1
        elif char == '"':
            end = query.find('"', i + 1)
            if end == -1:
                raise QuerySyntaxError("unclosed quote", query, i)
            toks.append(_Tok("PHRASE", query[i + 1 : end], i))
            i = end + 1
        else:
            start = i
            while i < n and query[i] not in _STOP:
                i += 1
            toks.extend(_lex_chunk(query, query[start:i], start))
    return toks


def _lex_chunk(query: str, chunk: str, pos: int) -> list[_Tok]:
    if chunk in ("AND", "OR", "NOT"):
        return [_Tok(chunk, chunk, pos)]
    if chunk == "NEAR" or chunk.startswith("NEAR/"):
        digits = chunk[5:]
        if chunk == "NEAR":
            return [_Tok("NEAR", chunk, pos, DEFAULT_NEAR)]
        if not digits.isascii() or not digits.isdigit() or len(digits) > 3:
            raise QuerySyntaxError("NEAR/ needs a number of words, e.g. NEAR/5", query, pos)
        return [_Tok("NEAR", chunk, pos, int(digits))]
    toks: list[_Tok] = []
    if chunk.startswith("-"):
        toks.append(_Tok("NEG", "-", pos))
        chunk, pos = chunk[1:], pos + 1
    head, sep, rest = chunk.partition(":")
    if sep and head in FIELDS:
        toks.append(_Tok("FIELD", head, pos))
        chunk, pos = rest, pos + len(head) + 1
    if chunk.partition(":")[0] in FIELDS and ":" in chunk:
        raise QuerySyntaxError("a field inside a field", query, pos)
    if chunk.startswith("="):
        if chunk == "=" and not query.startswith('"', pos + 1):
            raise QuerySyntaxError("= must be written just before a word or phrase", query, pos)
        toks.append(_Tok("CASE", "=", pos))
        chunk, pos = chunk[1:], pos + 1
    if chunk:
        toks.append(_Tok("WORD", chunk, pos))
    return toks


def make_term(text: str, body: str, case_sensitive: bool) -> Term:
    """Build a term from a word or phrase body; raise ValueError if it has no words."""
    prefix = body.rstrip().endswith("*")
    if prefix:
        body = body.rstrip()[:-1]
    found = words(fold(body))
    if not found:
        raise ValueError("has no letters or digits")
    if prefix and len(found[-1].lower) < MIN_PREFIX:
        raise ValueError(f"a prefix needs at least {MIN_PREFIX} letters before *")
    stems = [w.stem for w in found]
    if prefix:
        stems[-1] = found[-1].lower
    cased = tuple(w.cased for w in found) if case_sensitive else None
    return Term(text, tuple(stems), cased, prefix)


def alias_term(key: str, phrases: Sequence[str]) -> AnyOf:
    """Build the alias `key`; a phrase with a leading `=` is case-sensitive."""
    terms = []
    for phrase in phrases:
        case = phrase.startswith("=")
        body = phrase[1:] if case else phrase
        terms.append(make_term(phrase, body, case))
    return AnyOf(key, tuple(terms))


class _Parser:
    def __init__(self, query: str, aliases: Mapping[str, Sequence[str]]) -> None:
        self.query = query
        self.toks = _lex(query)
        self.i = 0
        self.depth = 0
        self.aliases = aliases

    def fail(self, message: str, tok: _Tok | None = None) -> QuerySyntaxError:
        pos = tok.pos if tok is not None else len(self.query)
        return QuerySyntaxError(message, self.query, pos)

    def peek(self) -> _Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> _Tok:
        tok = self.peek()
        if tok is None:
            raise self.fail("the query ends too early")
        self.i += 1
        return tok

    def parse(self) -> Node:
        if not self.toks:
            raise self.fail("the query is empty")
        node = self.parse_or()
        tok = self.peek()
        if tok is not None:
            if tok.kind == ")":
                raise self.fail("unmatched )", tok)
            raise self.fail(f"unexpected {tok.text!r}", tok)
        return node

    def parse_or(self) -> Node:
        children = [self.parse_and()]
        while (tok := self.peek()) is not None and tok.kind == "OR":
            self.i += 1
            children.append(self.parse_and())
        return children[0] if len(children) == 1 else Or(tuple(children))

    def parse_and(self) -> Node:
        children = [self.parse_near()]
        while (tok := self.peek()) is not None:
            if tok.kind == "AND":
                self.i += 1
            elif tok.kind not in ("(", "WORD", "PHRASE", "NEG", "NOT", "FIELD", "CASE"):
                break
            children.append(self.parse_near())
        return children[0] if len(children) == 1 else And(tuple(children))

    def parse_near(self) -> Node:
        left = self.parse_unary()
        while (tok := self.peek()) is not None and tok.kind == "NEAR":
            self.i += 1
            right_tok = self.peek()
            right = self.parse_unary()
            if not _positional(left):
                raise self.fail("NEAR needs words, phrases or OR groups on its left", tok)
            if not _positional(right):
                raise self.fail("NEAR needs words, phrases or OR groups on its right", right_tok)
            left = Near(left, right, tok.number)
        return left

    def parse_unary(self) -> Node:
        tok = self.peek()
        if tok is not None and tok.kind in ("NOT", "NEG"):
            self.i += 1
            return Not(self.nested(self.parse_unary))
        return self.parse_primary()

    def nested(self, parse: Callable[[], Node]) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.fail("the query is nested too deeply", self.peek())
        try:
            return parse()
        finally:
            self.depth -= 1

    def parse_primary(self) -> Node:
        tok = self.take()
        if tok.kind == "(":
            node = self.nested(self.parse_or)
            close = self.peek()
            if close is None or close.kind != ")":
                raise self.fail("unclosed (", tok)
            self.i += 1
            return node
        if tok.kind == "FIELD":
            child = self.nested(self.parse_primary)
            if _has_field(child):
                raise self.fail("a field inside a field", tok)
            return InField(tok.text, child)
        case = tok.kind == "CASE"
        if case:
            tok = self.take()
            if tok.kind not in ("WORD", "PHRASE"):
                raise self.fail("= must be followed by a word or a phrase", tok)
        if tok.kind == "WORD" and not case and tok.text in self.aliases:
            try:
                return alias_term(tok.text, self.aliases[tok.text])
            except ValueError as exc:
                raise self.fail(f"alias {tok.text}: a phrase {exc}", tok) from None
        if tok.kind == "WORD" and not case and _ALIAS_LIKE.match(tok.text):
            known = ", ".join(sorted(self.aliases)) or "none defined"
            raise self.fail(f"unknown alias {tok.text} (aliases: {known})", tok)
        if tok.kind in ("WORD", "PHRASE"):
            text = f'"{tok.text}"' if tok.kind == "PHRASE" else tok.text
            try:
                return make_term(tok.text, tok.text, case)
            except ValueError as exc:
                raise self.fail(f"{text} {exc}", tok) from None
        if tok.kind == ")":
            raise self.fail("unexpected ) with nothing before it", tok)
        raise self.fail(f"{tok.text} needs a term before it", tok)


def _positional(node: Node) -> bool:
    if isinstance(node, Term | AnyOf | Near):
        return True
    if isinstance(node, Or):
        return all(_positional(child) for child in node.children)
    if isinstance(node, InField):
        return _positional(node.child)
    return False


def _has_field(node: Node) -> bool:
    if isinstance(node, InField):
        return True
    if isinstance(node, And | Or):
        return any(_has_field(child) for child in node.children)
    if isinstance(node, Not):
        return _has_field(node.child)
    if isinstance(node, Near):
        return _has_field(node.left) or _has_field(node.right)
    return False


def _positive(node: Node) -> bool:
    """Whether a match needs at least one term of the node to be present."""
    if isinstance(node, Term | AnyOf | Near):
        return True
    if isinstance(node, Not):
        return False
    if isinstance(node, And):
        return any(_positive(child) for child in node.children)
    if isinstance(node, Or):
        return all(_positive(child) for child in node.children)
    return _positive(node.child)


def _leaves(node: Node, fields: tuple[str, ...]) -> list[tuple[Leaf, tuple[str, ...]]]:
    if isinstance(node, Term | AnyOf):
        return [(node, fields)]
    if isinstance(node, Not):
        return []
    if isinstance(node, InField):
        return _leaves(node.child, (node.field,))
    if isinstance(node, Near):
        return _leaves(node.left, fields) + _leaves(node.right, fields)
    return [leaf for child in node.children for leaf in _leaves(child, fields)]


def parse_query(text: str, aliases: Mapping[str, Sequence[str]] | None = None) -> Query:
    """Parse `text`; raise `QuerySyntaxError` (with the offending offset) if it is malformed."""
    if len(text) > MAX_LENGTH:
        raise QuerySyntaxError(f"the query is longer than {MAX_LENGTH} characters", text, 0)
    root = _Parser(text, aliases or {}).parse()
    if not _positive(root):
        raise QuerySyntaxError("the query needs a term that is not negated", text, 0)
    return Query(text, root, tuple(_leaves(root, FIELDS)))
