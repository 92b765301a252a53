"""The tiny condition language of `when:` clauses, parsed once and evaluated per update (no eval).

Grammar (lowest precedence first):
    expr    := and ("or" and)*
    and     := unary ("and" unary)*
    unary   := "not" unary | primary
    primary := "(" expr ")" | operand [cmp operand | "in" list]
    list    := "[" [literal ("," literal)*] "]"
An operand is a tag name or a literal (number, 'string', "string", true, false, null). A bare tag is
true when its value is truthy. A missing value (None) makes every comparison false except `== null`.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from drivers.base import Scalar as Value


class ExprError(ValueError):
    """A syntax error, with the character offset where it was found."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(f"{message} at column {offset + 1}")
        self.offset = offset


_TOKEN_RE = re.compile(
    r"\s*(?:(?P<num>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)|(?P<str>'[^']*'|\"[^\"]*\")"
    r"|(?P<op>==|!=|<=|>=|<|>|\(|\)|\[|\]|,)|(?P<name>[A-Za-z_][A-Za-z0-9_.\-]*))"
)
_CMP: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_KEYWORDS = {"and", "or", "not", "in", "true", "false", "null"}


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # num | str | op | name | kw | end
    text: str
    offset: int


@dataclass(frozen=True, slots=True)
class Tag:
    name: str


@dataclass(frozen=True, slots=True)
class Lit:
    value: Value


Operand = Tag | Lit


@dataclass(frozen=True, slots=True)
class Compare:
    op: str
    left: Operand
    right: Operand


@dataclass(frozen=True, slots=True)
class In:
    item: Operand
    choices: tuple[Value, ...]


@dataclass(frozen=True, slots=True)
class Truthy:
    operand: Operand


@dataclass(frozen=True, slots=True)
class Not:
    inner: Node


@dataclass(frozen=True, slots=True)
class BoolOp:
    op: str  # "and" | "or"
    parts: tuple[Node, ...]


Node = Compare | In | Truthy | Not | BoolOp


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN_RE.match(text, pos)
        if match is None or match.end() == pos:
            where = len(text) - len(text[pos:].lstrip())
            raise ExprError(f"unexpected character {text[where]!r}", where)
        group = match.lastgroup or ""
        word = match.group(group)
        kind = "kw" if group == "name" and word in _KEYWORDS else group
        tokens.append(Token(kind, word, match.start(group)))
        pos = match.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.pos = 0

    def peek(self) -> Token:
        return self.tokens[self.pos]

    def take(self) -> Token:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def expect(self, text: str) -> None:
        token = self.take()
        if token.text != text or token.kind not in ("op", "kw"):
            raise ExprError(f"expected {text!r} but found {token.text or 'end of text'!r}", token.offset)

    def parse(self) -> Node:
        node = self.expr()
        token = self.peek()
        if token.kind != "end":
            raise ExprError(f"unexpected {token.text!r}", token.offset)
        return node

    def expr(self) -> Node:
        return self._chain("or", self.conj)

    def conj(self) -> Node:
        return self._chain("and", self.unary)

    def _chain(self, word: str, sub: Callable[[], Node]) -> Node:
        parts = [sub()]
        while self.peek().kind == "kw" and self.peek().text == word:
            self.take()
            parts.append(sub())
        return parts[0] if len(parts) == 1 else BoolOp(word, tuple(parts))

    def unary(self) -> Node:
        if self.peek().kind == "kw" and self.peek().text == "not":
            self.take()
            return Not(self.unary())
        return self.primary()

    def primary(self) -> Node:
        if self.peek().text == "(" and self.peek().kind == "op":
            self.take()
            node = self.expr()
            self.expect(")")
            return node
        left = self.operand()
        token = self.peek()
        if token.kind == "op" and token.text in _CMP:
            self.take()
            return Compare(token.text, left, self.operand())
        if token.kind == "kw" and token.text == "in":
            self.take()
            return In(left, self.literal_list())
        if isinstance(left, Lit):
            raise ExprError("a literal alone is not a condition", token.offset)
        return Truthy(left)

    def operand(self) -> Operand:
        token = self.take()
        if token.kind == "name":
            return Tag(token.text)
        return Lit(self._literal(token))

    def literal_list(self) -> tuple[Value, ...]:
        self.expect("[")
        items: list[Value] = []
        if self.peek().text == "]":
            self.take()
            return ()
        while True:
            items.append(self._literal(self.take()))
            token = self.take()
            if token.text == "]":
                return tuple(items)
            if token.text != ",":
                raise ExprError(
                    f"expected ',' or ']' but found {token.text or 'end of text'!r}", token.offset
                )

    @staticmethod
    def _literal(token: Token) -> Value:
        if token.kind == "num":
            return float(token.text) if any(c in token.text for c in ".eE") else int(token.text)
        if token.kind == "str":
            return token.text[1:-1]
        if token.kind == "kw" and token.text in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[token.text]
        raise ExprError(
            f"expected a tag name or a value but found {token.text or 'end of text'!r}", token.offset
        )


@dataclass(frozen=True, slots=True)
class Expression:
    """A parsed `when:` clause; `tags` are the names it reads (recorded with each state change)."""

    source: str
    root: Node
    tags: tuple[str, ...]

    def __call__(self, values: Mapping[str, Value]) -> bool:
        return _eval(self.root, values)


def parse(text: str) -> Expression:
    """Parse a condition; raises ExprError with the offset of the problem."""
    root = _Parser(text).parse()
    return Expression(text, root, tuple(sorted(_tags(root))))


def _tags(node: Node) -> set[str]:
    if isinstance(node, Compare):
        return {o.name for o in (node.left, node.right) if isinstance(o, Tag)}
    if isinstance(node, In):
        return {node.item.name} if isinstance(node.item, Tag) else set()
    if isinstance(node, Truthy):
        return {node.operand.name} if isinstance(node.operand, Tag) else set()
    if isinstance(node, Not):
        return _tags(node.inner)
    return set().union(*(_tags(p) for p in node.parts))


def _value(operand: Operand, values: Mapping[str, Value]) -> Value:
    return values.get(operand.name) if isinstance(operand, Tag) else operand.value


def _eval(node: Node, values: Mapping[str, Value]) -> bool:
    if isinstance(node, Compare):
        left, right = _value(node.left, values), _value(node.right, values)
        if left is None or right is None:
            return _null_test(node, left, right)
        return _compare(node.op, left, right)
    if isinstance(node, In):
        item = _value(node.item, values)
        return item is not None and any(_compare("==", item, c) for c in node.choices)
    if isinstance(node, Truthy):
        return bool(_value(node.operand, values))
    if isinstance(node, Not):
        return not _eval(node.inner, values)
    if node.op == "and":
        return all(_eval(p, values) for p in node.parts)
    return any(_eval(p, values) for p in node.parts)


def _null_test(node: Compare, left: Value, right: Value) -> bool:
    """Missing data never satisfies a test (no alarm from an absent code), except a null check."""
    null_literal = Lit(None) in (node.left, node.right)
    if not null_literal or node.op not in ("==", "!="):
        return False
    both_null = left is None and right is None
    return both_null if node.op == "==" else not both_null


def _compare(op: str, left: Value, right: Value) -> bool:
    if isinstance(left, str) != isinstance(right, str):
        return op == "!="
    try:
        return bool(_CMP[op](left, right))
    except TypeError:
        return False
