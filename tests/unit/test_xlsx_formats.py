"""Every number format the export uses shows whole numbers without a stray dot ("26,550." was one)."""

from __future__ import annotations

from bot.core.catalogue import load_catalogue
from bot.core.fields import FieldType
from bot.render.xlsx_cells import field_format, figure_format

EXPECTED = {FieldType.INTEGER: "#,##0", FieldType.MONEY: "#,##0.00", FieldType.AREA_MU: "#,##0.00", FieldType.DECIMAL: "#,##0.00"}


def test_each_numeric_fields_format_has_its_decimals_and_no_bare_dot() -> None:
    fields = [field for form in load_catalogue() for field in form.numeric_fields]
    assert {field.type for field in fields} == set(EXPECTED)  # every numeric type is shipped and checked
    for field in fields:
        for fmt in (field_format(field), figure_format(field, 1), figure_format(field, 12)):
            assert fmt is not None and not fmt.endswith(".") and ".#" not in fmt, (field.key, fmt)
        assert field_format(field) == EXPECTED[field.type], field.key


def test_a_mean_has_decimals_even_for_head_counts() -> None:
    milk = load_catalogue().get("milk")
    drinkers = next(f for f in milk.numeric_fields if f.key == "daily_drinkers")
    assert figure_format(drinkers, 1) == "#,##0"  # summed over schools in one month
    assert figure_format(drinkers, 11) == "#,##0.00"  # the mean of the months
