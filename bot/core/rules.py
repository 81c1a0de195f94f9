"""Validation rules as catalogue data: small, safe expressions over a form's answers.

A rule is a line the office can read and edit — ``insured <= enrolled``,
``days_served <= days_in_period``, ``income == 0 or quantity > 0`` — with a
message in both languages and a severity (``error`` must be fixed; a
``warning`` may be confirmed with a reason). Names are the form's field keys
and the period's facts (``days_in_period``).

Why a tiny parser on Python's ``ast`` and not a library: the rules must be
*checked when the catalogue loads* against the form's own field types (an
unknown key, a number compared with text, a choice compared with a key it
does not have → one line naming form and rule), and evaluated on exact
``Decimal`` values with "not answered" as unknown. asteval and simpleeval
evaluate a general Python subset (loops, calls, attribute access) and know
nothing of our field types; cel-python brings a second grammar office staff
would have to learn and has no checker for our types. Here only an
allow-list of node types is accepted (names, numbers, strings, comparisons,
and/or/not, + - * /, parentheses, and ``answered(name)``); nothing is ever
passed to ``eval``.

Evaluation is three-valued: a skipped optional field makes any comparison
with it unknown, ``and``/``or`` follow SQL's logic, and a rule fails only when
it is definitely false — an unanswered question never raises a flag. A rule
that needs an answer says so: ``income == 0 or answered(quantity)``
(``answered`` is always true or false, never unknown).
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, DivisionByZero, InvalidOperation
from enum import StrEnum
from typing import Any

__all__ = ["Kind", "RuleError", "compile_rule", "Expression"]

MAX_RULE_LENGTH = 300


class Kind(StrEnum):
    """The type of a name or a sub-expression, as the checker sees it."""

    NUMBER = "number"
    TEXT = "text"
    BOOL = "bool"


class RuleError(ValueError):
    """The rule cannot be used: bad syntax, an unknown name, or types that do not fit."""


Value = Decimal | str | bool | None

_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}
_ARITHMETIC: dict[type[ast.operator], Callable[[Decimal, Decimal], Decimal]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}
_ORDERING = (ast.Lt, ast.LtE, ast.Gt, ast.GtE)


@dataclass(frozen=True)
class Expression:
    """A checked rule, ready to evaluate on a form's answers."""

    source: str
    tree: ast.expr
    names: frozenset[str]

    def holds(self, values: Mapping[str, Value]) -> bool | None:
        """True or False, or None when an answer it needs is missing (the rule does not apply)."""
        result = _evaluate(self.tree, values)
        return None if result is None else bool(result)


def compile_rule(source: str, kinds: Mapping[str, Kind], choices: Mapping[str, frozenset[str]] | None = None) -> Expression:
    """Parse and check ``source`` against the names it may use (``kinds``); raise ``RuleError``.

    ``choices`` gives the keys of choice fields: comparing one with a string that
    is not among them is a typo the office should hear about at load time.
    """
    if len(source) > MAX_RULE_LENGTH:
        raise RuleError(f"longer than {MAX_RULE_LENGTH} characters")
    try:
        tree = ast.parse(source.strip(), mode="eval").body
    except SyntaxError as exc:
        raise RuleError(f"cannot read {source!r}: {exc.msg}") from None
    checker = _Checker(kinds, choices or {})
    kind = checker.kind(tree)
    if kind is not Kind.BOOL:
        raise RuleError(f"{source!r} is a {kind.value}, not a condition (compare it with something)")
    return Expression(source, tree, frozenset(checker.used))


class _Checker:
    def __init__(self, kinds: Mapping[str, Kind], choices: Mapping[str, frozenset[str]]) -> None:
        self.kinds = kinds
        self.choices = choices
        self.used: set[str] = set()

    def kind(self, node: ast.expr) -> Kind:
        match node:
            case ast.Name(id=name):
                if name not in self.kinds:
                    known = ", ".join(sorted(self.kinds))
                    raise RuleError(f"unknown name {name!r} (known: {known})")
                self.used.add(name)
                return self.kinds[name]
            case ast.Constant(value=bool()):
                raise RuleError("write conditions, not True/False")
            case ast.Constant(value=int() | float()):
                return Kind.NUMBER
            case ast.Constant(value=str()):
                return Kind.TEXT
            case ast.UnaryOp(op=ast.Not(), operand=operand):
                self._expect(operand, Kind.BOOL, "not")
                return Kind.BOOL
            case ast.UnaryOp(op=ast.USub(), operand=operand):
                self._expect(operand, Kind.NUMBER, "-")
                return Kind.NUMBER
            case ast.BoolOp(values=values):
                for value in values:
                    self._expect(value, Kind.BOOL, "and/or")
                return Kind.BOOL
            case ast.Call(func=ast.Name(id="answered"), args=[ast.Name() as name], keywords=[]):
                self.kind(name)
                return Kind.BOOL
            case ast.BinOp(left=left, op=op, right=right) if type(op) in _ARITHMETIC:
                self._expect(left, Kind.NUMBER, "arithmetic")
                self._expect(right, Kind.NUMBER, "arithmetic")
                return Kind.NUMBER
            case ast.Compare(left=left, ops=ops, comparators=comparators) if all(type(op) in _COMPARE for op in ops):
                self._check_comparison(left, ops, comparators)
                return Kind.BOOL
        raise RuleError(
            f'{ast.unparse(node)!r} is not allowed (use names, numbers, "text", comparisons, and/or/not, + - * /, answered(name))'
        )

    def _expect(self, node: ast.expr, kind: Kind, where: str) -> None:
        found = self.kind(node)
        if found is not kind:
            raise RuleError(f"{where} needs a {kind.value}, but {ast.unparse(node)!r} is a {found.value}")

    def _check_comparison(self, left: ast.expr, ops: list[ast.cmpop], comparators: list[ast.expr]) -> None:
        operands = [left, *comparators]
        kinds = [self.kind(node) for node in operands]
        for (a, b), (ka, kb), op in zip(zip(operands, operands[1:]), zip(kinds, kinds[1:]), ops):
            if Kind.BOOL in (ka, kb):
                raise RuleError(f"cannot compare the condition {ast.unparse(a if ka is Kind.BOOL else b)!r}")
            if ka is not kb:
                raise RuleError(f"compares {ast.unparse(a)!r} ({ka.value}) with {ast.unparse(b)!r} ({kb.value})")
            if ka is Kind.TEXT and isinstance(op, _ORDERING):
                raise RuleError(f"texts can only be compared with == or !=: {ast.unparse(a)} … {ast.unparse(b)}")
            self._check_choice(a, b)
            self._check_choice(b, a)

    def _check_choice(self, name: ast.expr, literal: ast.expr) -> None:
        if isinstance(name, ast.Name) and isinstance(literal, ast.Constant) and name.id in self.choices:
            if literal.value not in self.choices[name.id]:
                keys = ", ".join(sorted(self.choices[name.id]))
                raise RuleError(f"{name.id} has no choice {literal.value!r} (its choices: {keys})")


def _evaluate(node: ast.expr, values: Mapping[str, Value]) -> Value:
    match node:
        case ast.Name(id=name):
            return values.get(name)
        case ast.Constant(value=str() as text):
            return text
        case ast.Constant(value=int() | float() as number):
            return Decimal(str(number))
        case ast.UnaryOp(op=ast.Not(), operand=operand):
            inner = _evaluate(operand, values)
            return None if inner is None else not inner
        case ast.UnaryOp(op=ast.USub(), operand=operand):
            inner = _evaluate(operand, values)
            return None if inner is None else -_number(inner)
        case ast.Call(args=[ast.Name(id=name)]):
            return values.get(name) not in (None, "")
        case ast.BoolOp(op=ast.And(), values=parts):
            return _and([_evaluate(part, values) for part in parts])
        case ast.BoolOp(op=ast.Or(), values=parts):
            return _or([_evaluate(part, values) for part in parts])
        case ast.BinOp(left=left, op=op, right=right):
            a, b = _evaluate(left, values), _evaluate(right, values)
            if a is None or b is None:
                return None
            try:
                return _ARITHMETIC[type(op)](_number(a), _number(b))
            except (DivisionByZero, InvalidOperation, ZeroDivisionError):
                return None  # x / 0: the rule cannot say anything
        case ast.Compare(left=left, ops=ops, comparators=comparators):
            operands = [_evaluate(n, values) for n in (left, *comparators)]
            results: list[Value] = []
            for a, b, cmp in zip(operands, operands[1:], ops):
                results.append(None if a is None or b is None else _COMPARE[type(cmp)](a, b))
            return _and(results)
    raise AssertionError(f"unchecked node {ast.dump(node)}")  # pragma: no cover - the checker refuses it


def _number(value: Value) -> Decimal:
    assert isinstance(value, Decimal)
    return value


def _and(parts: list[Value]) -> Value:
    if any(part is False for part in parts):
        return False
    return None if any(part is None for part in parts) else True


def _or(parts: list[Value]) -> Value:
    if any(part is True for part in parts):
        return True
    return None if any(part is None for part in parts) else False
