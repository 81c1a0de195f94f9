"""Validation rules: checked against the form's field types at load, evaluated three-valued."""

from decimal import Decimal

import pytest

from bot.core.rules import Kind, RuleError, compile_rule

KINDS = {
    "insured": Kind.NUMBER,
    "enrolled": Kind.NUMBER,
    "days_served": Kind.NUMBER,
    "days_in_period": Kind.NUMBER,
    "income": Kind.NUMBER,
    "quantity": Kind.NUMBER,
    "crop": Kind.TEXT,
    "note": Kind.TEXT,
}
CHOICES = {"crop": frozenset({"trees", "vegetables", "other"})}


def rule(source: str):  # type: ignore[no-untyped-def]
    return compile_rule(source, KINDS, CHOICES)


def test_a_comparison_holds_or_fails_on_exact_decimals() -> None:
    insured = rule("insured <= enrolled")
    assert insured.names == {"insured", "enrolled"}
    assert insured.holds({"insured": Decimal(850), "enrolled": Decimal(856)}) is True
    assert insured.holds({"insured": Decimal(857), "enrolled": Decimal(856)}) is False
    assert rule("income == 0 or quantity > 0").holds({"income": Decimal("0.00"), "quantity": None}) is True
    assert rule("income * 2 - 1 >= quantity / 4").holds({"income": Decimal("0.5"), "quantity": Decimal(0)}) is True


def test_a_missing_answer_makes_the_rule_unknown_not_failed() -> None:
    both = rule("income == 0 or quantity > 0")
    assert both.holds({"income": Decimal(100), "quantity": None}) is None
    assert both.holds({"income": Decimal(100), "quantity": Decimal(0)}) is False
    assert rule("not (insured > enrolled)").holds({"insured": None, "enrolled": Decimal(1)}) is None
    assert rule("quantity / income > 1").holds({"quantity": Decimal(1), "income": Decimal(0)}) is None, "÷0 says nothing"


def test_answered_is_never_unknown() -> None:
    needs = rule("income == 0 or answered(quantity)")
    assert needs.holds({"income": Decimal(100), "quantity": None}) is False
    assert needs.holds({"income": Decimal(100), "quantity": Decimal(0)}) is True
    assert needs.holds({"income": Decimal(0), "quantity": None}) is True
    with pytest.raises(RuleError, match="unknown name"):
        rule("answered(qty)")
    with pytest.raises(RuleError, match="is not allowed"):
        rule("answered(income > 0)")
    with pytest.raises(RuleError, match="is not allowed"):
        rule("len(note) > 3")


def test_choices_and_text_compare_by_equality() -> None:
    assert rule('income == 0 or crop != "other"').holds({"income": Decimal(5), "crop": "other"}) is False
    assert rule('crop == "trees" and 0 < days_served <= days_in_period').holds(
        {"crop": "trees", "days_served": Decimal(30), "days_in_period": Decimal(30)}
    )


@pytest.mark.parametrize(
    ("source", "says"),
    [
        ("insured <= enroled", "unknown name 'enroled'"),
        ('insured == "many"', "compares 'insured' (number) with"),
        ("crop > 3", "compares 'crop' (text) with '3' (number)"),
        ('note < "a"', "texts can only be compared with == or !="),
        ('crop == "fruits"', "crop has no choice 'fruits'"),
        ("insured + enrolled", "is a number, not a condition"),
        ("insured <=", "cannot read"),
        ("__import__('os').system('x') == 0", "is not allowed"),
        ("insured.real > 0", "is not allowed"),
        ("[1][0] == 1", "is not allowed"),
        ("insured if enrolled else 0", "is not allowed"),
        ("insured ** 2 > 0", "is not allowed"),
        ("True", "write conditions"),
        ("not insured", "not needs a bool"),
        ("(insured > 1) == (enrolled > 1)", "cannot compare the condition"),
    ],
)
def test_a_bad_rule_is_refused_with_a_reason(source: str, says: str) -> None:
    with pytest.raises(RuleError, match=None) as refused:
        rule(source)
    assert says in str(refused.value)


def test_a_rule_cannot_be_a_novel() -> None:
    with pytest.raises(RuleError, match="longer than"):
        rule("insured <= enrolled and " * 20 + "insured <= enrolled")
