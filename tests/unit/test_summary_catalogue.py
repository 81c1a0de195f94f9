"""The catalogue's ``main = true`` flag: the headline figure of summaries and charts."""

from __future__ import annotations

import pytest

from bot.core.catalogue import CatalogueInvalid, load_catalogue, load_catalogue_text

FORM = """
[[forms]]
key = "uniform"
version = 1
title = {{ zh = "校服征订", en = "Uniform orders" }}
short = {{ zh = "校服", en = "Uniforms" }}
cadence = "yearly"

[[forms.fields]]
key = "size"
label = {{ zh = "尺码", en = "Size" }}
type = "text"
{size_main}

[[forms.fields]]
key = "sets"
label = {{ zh = "套数", en = "Sets" }}
type = "integer"
{sets_main}

[[forms.fields]]
key = "amount"
label = {{ zh = "金额", en = "Amount" }}
type = "money"
{amount_main}
"""


def form_text(size: bool = False, sets: bool = False, amount: bool = False) -> str:
    flag = "main = true"
    return FORM.format(size_main=flag if size else "", sets_main=flag if sets else "", amount_main=flag if amount else "")


def test_shipped_forms_headline_income_daily_drinkers_and_students_insured() -> None:
    catalogue = load_catalogue()
    mains = {form.key: form.main_field.key for form in catalogue if form.main_field is not None}
    assert mains == {"harvest": "income", "milk": "daily_drinkers", "insurance": "students_insured"}


def test_main_field_is_the_flagged_one_else_the_first_number() -> None:
    assert load_catalogue_text(form_text(amount=True)).get("uniform").main_field.key == "amount"  # type: ignore[union-attr]
    assert load_catalogue_text(form_text()).get("uniform").main_field.key == "sets"  # type: ignore[union-attr]


def test_main_on_a_text_field_or_twice_is_refused() -> None:
    with pytest.raises(CatalogueInvalid, match="main applies only to number fields"):
        load_catalogue_text(form_text(size=True))
    with pytest.raises(CatalogueInvalid, match="only one field may be main"):
        load_catalogue_text(form_text(sets=True, amount=True))
