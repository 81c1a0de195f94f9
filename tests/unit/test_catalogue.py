"""The report catalogue: loading, validation errors, and reading/showing/storing answers."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

import bot.core.catalogue as catalogue_module
import bot.core.fields as fields_module
import bot.core.periods as periods_module
from bot.core.fields import ANSWER_MESSAGE_KEYS
from bot.core.catalogue import Severity, SHIPPED_CATALOGUE, Cadence, CatalogueInvalid, load_catalogue, load_catalogue_text
from bot.core.fields import Field, FieldType, InvalidAnswer, Text
from bot.core.i18n import LANGUAGES, messages

SHIPPED = load_catalogue()

UNIFORM_FORM = """
[[forms]]
key = "uniform"
version = 1
title = { zh = "校服征订", en = "School uniform orders" }
short = { zh = "校服", en = "Uniforms" }
cadence = "yearly"
programme = "uniform"
due_days = 30

[[forms.fields]]
key = "sets_ordered"
label = { zh = "征订套数", en = "Sets ordered" }
type = "integer"
unit = { zh = "套", en = "sets" }
max = 50000

[[forms.fields]]
key = "delivered_on"
label = { zh = "到货日期", en = "Delivery date" }
type = "date"
required = false
"""


def field_toml(body: str, *, form_key: str = "broken") -> str:
    """A one-form catalogue whose fields are ``body``."""
    return f"""
[[forms]]
key = "{form_key}"
version = 1
title = {{ zh = "测试", en = "Test" }}
short = {{ zh = "测试", en = "Test" }}
cadence = "monthly"
due_days = 5

[[forms.fields]]
key = "first"
label = {{ zh = "第一项", en = "First" }}
type = "integer"
{body}
"""


def make_field(**data: object) -> Field:
    base: dict[str, object] = {"key": "f", "label": {"zh": "数量", "en": "Amount"}, "type": "integer"}
    return Field.model_validate(base | data)


# --- the shipped catalogue -----------------------------------------------------------


def test_shipped_catalogue_has_the_three_forms_with_shortcuts() -> None:
    assert [form.key for form in SHIPPED] == ["harvest", "milk", "insurance"]
    assert [form.command for form in SHIPPED] == ["harvest", "milk", "insurance"]
    assert all(form.version == 1 for form in SHIPPED)


def test_harvest_is_an_event_form_summed_per_quarter_for_farm_schools() -> None:
    harvest = SHIPPED.get("harvest")
    assert harvest.is_event
    assert harvest.period_cadence is Cadence.QUARTERLY
    assert harvest.programme == "farm"
    assert harvest.due_days is None
    assert [f.key for f in harvest.fields] == ["crop", "area_mu", "quantity", "income", "participants", "note"]
    assert {c.key for c in harvest.field("crop").choices} == {"trees", "flowers", "vegetables", "fruit", "nursery", "other"}
    assert not harvest.field("note").required
    assert not harvest.field("quantity").required


def test_milk_is_monthly_for_milk_schools_due_after_five_days() -> None:
    milk = SHIPPED.get("milk")
    assert (milk.cadence, milk.programme, milk.due_days) == (Cadence.MONTHLY, "milk", 5)
    assert milk.period_cadence is Cadence.MONTHLY
    assert not milk.is_event
    assert milk.field("incidents").default == "0"
    assert milk.field("supplier").type is FieldType.CHOICE


def test_insurance_is_per_semester_for_all_schools() -> None:
    insurance = SHIPPED.get("insurance")
    assert (insurance.cadence, insurance.programme, insurance.due_days) == (Cadence.SEMESTER, None, 15)
    assert [f.key for f in insurance.fields] == ["students_enrolled", "students_insured", "premium", "claims"]


def test_every_shipped_field_has_help_and_numbers_have_units_and_ranges() -> None:
    for form in SHIPPED:
        for field in form.fields:
            assert field.help is not None, (form.key, field.key)
            if field.type.is_numeric:
                assert field.unit is not None, (form.key, field.key)
                assert field.min is not None and field.max is not None, (form.key, field.key)


def test_forms_for_includes_all_school_forms_and_enrolled_programmes() -> None:
    assert [f.key for f in SHIPPED.forms_for(set())] == ["insurance"]
    assert [f.key for f in SHIPPED.forms_for({"milk"})] == ["milk", "insurance"]
    assert [f.key for f in SHIPPED.forms_for({"farm", "milk", "unknown"})] == ["harvest", "milk", "insurance"]


def test_unknown_form_or_field_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        SHIPPED.get("uniform")
    with pytest.raises(KeyError):
        SHIPPED.get("milk").field("nope")
    with pytest.raises(KeyError):
        SHIPPED.by_command("nope")
    assert SHIPPED.by_command("milk") is SHIPPED.get("milk")


def test_load_catalogue_reads_a_given_path(tmp_path: Path) -> None:
    path = tmp_path / "catalogue.toml"
    path.write_text(UNIFORM_FORM, encoding="utf-8")
    assert [form.key for form in load_catalogue(path)] == ["uniform"]


def test_catalogue_with_a_fourth_form_loads_from_text() -> None:
    text = SHIPPED_CATALOGUE.read_text(encoding="utf-8") + UNIFORM_FORM
    catalogue = load_catalogue_text(text)
    assert len(catalogue) == 4
    uniform = catalogue.get("uniform")
    assert uniform.command == "uniform"  # defaults to the key
    assert uniform.field("sets_ordered").min == 0  # numbers are non-negative by default
    assert uniform.reminder_slots == [-3, 0, 1, 3, 7]
    assert uniform.lock_days == 60
    assert [f.key for f in catalogue.forms_for({"uniform"})] == ["insurance", "uniform"]  # catalogue order


def test_text_defaults_to_chinese_and_understands_language_codes() -> None:
    text = Text(zh="收获", en="Harvest")
    assert text.get() == "收获"
    assert text.get("zh") == "收获"
    assert text.get("en") == "Harvest"
    assert text.get("en-GB") == "Harvest"
    assert text.get("fr") == "收获"


def test_event_form_defaults_to_quarterly_buckets() -> None:
    text = UNIFORM_FORM.replace('cadence = "yearly"', 'cadence = "event"')
    assert load_catalogue_text(text).get("uniform").period_cadence is Cadence.QUARTERLY


def test_reminder_slots_are_kept_in_time_order() -> None:
    text = UNIFORM_FORM.replace("due_days = 30", "due_days = 30\nreminder_slots = [7, -3, 0]")
    assert load_catalogue_text(text).get("uniform").reminder_slots == [-3, 0, 7]


# --- broken catalogues: one line naming the file, form and field ---------------------------


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (
            '[[forms.fields]]\nkey = "days"\nlabel = { zh = "天数", en = "Days" }\ntype = "integer"\nmin = 40\nmax = 31',
            "min 40 is greater than max 31",
        ),
        ('[[forms.fields]]\nkey = "days"\nlabel = { zh = "天数", en = "Days" }\ntype = "number"', "'number'"),
        ('[[forms.fields]]\nkey = "days"\nlabel = { zh = "天数", en = "Days" }\ntype = "choice"', "at least 2 choices"),
        (
            '[[forms.fields]]\nkey = "days"\nlabel = { zh = "天数", en = "Days" }\ntype = "choice"\n'
            'choices = [{ key = "a", label = { zh = "甲", en = "A" } }]',
            "at least 2 choices",
        ),
        (
            '[[forms.fields]]\nkey = "days"\nlabel = { zh = "天数", en = "Days" }\ntype = "choice"\n'
            'choices = [{ key = "a", label = { zh = "甲", en = "A" } }, { key = "a", label = { zh = "乙", en = "B" } }]',
            "duplicate choice key 'a'",
        ),
        (
            '[[forms.fields]]\nkey = "days"\nlabel = { zh = "天数", en = "Days" }\ntype = "integer"\ndefault = "abc"',
            "default 'abc'",
        ),
        ('[[forms.fields]]\nkey = "days"\nlabel = { zh = "天数", en = "Days" }\ntype = "text"\nmax = 3', "min/max apply only"),
        ('[[forms.fields]]\nkey = "days"\nlabel = { zh = "天数", en = "Days" }\ntype = "integer"\nrequird = false', "requird"),
        ('[[forms.fields]]\nkey = "days"\nlabel = { zh = "天数" }\ntype = "integer"', "label.en"),
    ],
)
def test_broken_field_is_reported_in_one_line_naming_form_and_field(body: str, problem: str) -> None:
    with pytest.raises(CatalogueInvalid) as info:
        load_catalogue_text(field_toml(body, form_key="milk_test"), origin="office.toml")
    line = str(info.value)
    assert "\n" not in line
    assert line.startswith("office.toml: ")
    assert "form 'milk_test'" in line
    assert "field 'days'" in line
    assert problem in line


def test_min_greater_than_max_names_form_and_field() -> None:
    text = SHIPPED_CATALOGUE.read_text(encoding="utf-8").replace("max = 31", "max = 3\nmin = 40", 1)
    text = text.replace("min = 0\nmax = 3\n", "max = 3\n", 1)
    with pytest.raises(CatalogueInvalid) as info:
        load_catalogue_text(text, origin="catalogue.toml")
    assert str(info.value) == "catalogue.toml: form 'milk', field 'days_served': min 40 is greater than max 3"


def test_duplicate_field_key_names_form_and_field() -> None:
    body = '[[forms.fields]]\nkey = "first"\nlabel = { zh = "重复", en = "Again" }\ntype = "integer"'
    with pytest.raises(CatalogueInvalid) as info:
        load_catalogue_text(field_toml(body), origin="c.toml")
    assert str(info.value) == "c.toml: form 'broken': duplicate field key 'first'"


def test_unknown_field_type_names_form_field_and_the_bad_value() -> None:
    with pytest.raises(CatalogueInvalid) as info:
        load_catalogue_text(field_toml("").replace('type = "integer"', 'type = "number"'), origin="c.toml")
    line = str(info.value)
    assert line.startswith("c.toml: form 'broken', field 'first': type: ")
    assert "(got 'number')" in line


def test_choice_field_without_choices_names_form_and_field() -> None:
    with pytest.raises(CatalogueInvalid) as info:
        load_catalogue_text(field_toml("").replace('type = "integer"', 'type = "choice"'), origin="c.toml")
    assert str(info.value) == "c.toml: form 'broken', field 'first': a choice field needs at least 2 choices, has 0"


def test_bad_choice_key_names_the_choice() -> None:
    body = (
        'type = "choice"\nchoices = [{ key = "Bad Key", label = { zh = "甲", en = "A" } }, '
        '{ key = "b", label = { zh = "乙", en = "B" } }]'
    )
    with pytest.raises(CatalogueInvalid) as info:
        load_catalogue_text(field_toml(body).replace('type = "integer"\n', "", 1), origin="c.toml")
    assert str(info.value).startswith("c.toml: form 'broken', field 'first', choice 'Bad Key': key: ")


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (('cadence = "monthly"', 'cadence = "event"\nevent_period = "event"'), "event_period"),
        (('cadence = "monthly"', 'cadence = "monthly"\nevent_period = "yearly"'), "event_period applies only"),
        (('key = "broken"', 'key = "broken"\ncommand = "start"'), "reserved"),
        (('key = "broken"', 'key = "broken"\ncommand = "Bad-Command"'), "command"),
        (("version = 1", "version = 0"), "version"),
        (("due_days = 5", "due_days = 5\nreminder_slots = [0, 0]"), "repeated reminder day"),
        (("due_days = 5", "due_days = -1"), "due_days"),
    ],
)
def test_broken_form_is_reported_in_one_line_naming_the_form(change: tuple[str, str], problem: str) -> None:
    with pytest.raises(CatalogueInvalid) as info:
        load_catalogue_text(field_toml("").replace(*change), origin="c.toml")
    line = str(info.value)
    assert "\n" not in line
    assert line.startswith("c.toml: form 'broken'")
    assert problem in line


def test_form_without_fields_is_refused() -> None:
    text = field_toml("").split("[[forms.fields]]")[0]
    with pytest.raises(CatalogueInvalid, match="form 'broken': fields"):
        load_catalogue_text(text)


def test_form_without_key_is_named_by_position() -> None:
    text = SHIPPED_CATALOGUE.read_text(encoding="utf-8").replace('key = "milk"\n', "", 1)
    with pytest.raises(CatalogueInvalid, match=r"form #2: key: Field required"):
        load_catalogue_text(text)


@pytest.mark.parametrize("attribute", ["key", "command"])
def test_duplicate_form_key_or_command_is_refused(attribute: str) -> None:
    second = UNIFORM_FORM.replace('key = "uniform"', 'key = "uniform2"\ncommand = "uniform"')
    text = UNIFORM_FORM + (second if attribute == "command" else UNIFORM_FORM)
    with pytest.raises(CatalogueInvalid, match=f"duplicate form {attribute} 'uniform'"):
        load_catalogue_text(text)


def test_several_problems_still_give_one_line() -> None:
    text = field_toml('min = 5\nmax = 1\n[[forms.fields]]\nkey = "first"\nlabel = { zh = "重复", en = "Again" }\ntype = "x"')
    with pytest.raises(CatalogueInvalid) as info:
        load_catalogue_text(text, origin="c.toml")
    assert "\n" not in str(info.value)
    assert "more problem" in str(info.value)


def test_invalid_toml_names_the_file() -> None:
    with pytest.raises(CatalogueInvalid, match=r"^c\.toml: not valid TOML"):
        load_catalogue_text("[[forms]\nkey = ", origin="c.toml")


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "missing.toml"
    with pytest.raises(CatalogueInvalid, match="missing.toml: cannot read"):
        load_catalogue(path)


def test_empty_catalogue_is_refused() -> None:
    with pytest.raises(CatalogueInvalid, match="forms"):
        load_catalogue_text("")


# --- reading answers ---------------------------------------------------------------------


def answer_error(field: Field, raw: str) -> InvalidAnswer:
    with pytest.raises(InvalidAnswer) as info:
        field.parse(raw)
    return info.value


def test_money_answer_accepts_wan_and_units() -> None:
    income = SHIPPED.get("harvest").field("income")
    assert income.parse("1.2万") == Decimal(12000)
    assert income.parse("12,000元") == Decimal(12000)
    assert income.parse("三万五千") == Decimal(35000)
    assert income.parse("800.50") == Decimal("800.5")


def test_negative_answer_is_refused_with_the_unit_in_the_readers_language() -> None:
    error = answer_error(SHIPPED.get("harvest").field("income"), "-5")
    assert error.key == "input.negative"
    assert "元" in error.message("zh")
    assert "yuan" in error.message("en")
    assert "销售收入" in error.message("zh")


def test_numbers_without_min_are_non_negative_by_default() -> None:
    for kind in ("integer", "decimal", "money", "area_mu"):
        field = make_field(type=kind)
        assert field.min == 0
        assert answer_error(field, "负五").key == "input.negative"


def test_explicit_negative_min_allows_negatives() -> None:
    field = make_field(type="decimal", min=-10)
    assert field.parse("-5") == Decimal(-5)
    assert answer_error(field, "-11").key == "input.too_small"


def test_too_large_answer_echoes_what_was_read() -> None:
    error = answer_error(SHIPPED.get("milk").field("days_served"), "1.2万")
    assert error.key == "input.too_large"
    assert error.message("zh") == "供奶天数最多是 31 天，收到的是 12,000 天。请核对后重新发送。"
    assert "31 days" in error.message("en")


def test_too_small_answer_names_the_minimum() -> None:
    field = make_field(min=10, unit={"zh": "人", "en": "students"})
    error = answer_error(field, "3")
    assert error.key == "input.too_small"
    assert "10 人" in error.message("zh")
    assert "10 students" in error.message("en")


def test_integer_field_refuses_fractions() -> None:
    assert answer_error(SHIPPED.get("milk").field("daily_drinkers"), "85.5").key == "input.not_whole"
    assert SHIPPED.get("milk").field("daily_drinkers").parse("856.0") == Decimal(856)


def test_money_refuses_fractions_of_a_fen() -> None:
    error = answer_error(SHIPPED.get("harvest").field("income"), "12.345")
    assert error.key == "input.too_many_decimals"
    assert "2" in error.message("en")


def test_area_accepts_mu_suffix() -> None:
    assert SHIPPED.get("harvest").field("area_mu").parse("3.5亩") == Decimal("3.5")


@pytest.mark.parametrize("raw", ["abc", "12ab34", "🙂", "1.2.3"])
def test_non_numeric_answer_is_refused(raw: str) -> None:
    error = answer_error(SHIPPED.get("milk").field("daily_drinkers"), raw)
    assert error.key == "input.not_a_number"
    assert "（单位：人）" in error.message("zh")
    assert "(in students)" in error.message("en")


def test_unit_hint_is_left_out_for_fields_without_unit() -> None:
    error = answer_error(make_field(), "abc")
    assert "单位" not in error.message("zh")
    assert "(in" not in error.message("en")


@pytest.mark.parametrize("raw", ["", "   "])
def test_empty_answer_is_refused(raw: str) -> None:
    assert answer_error(SHIPPED.get("harvest").field("note"), raw).key == "input.empty"


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("fruit", "fruit"),
        ("瓜果（含西瓜）", "fruit"),
        ("西瓜", "fruit"),
        ("Watermelon", "fruit"),
        ("Ｆｌｏｗｅｒｓ", "flowers"),
        (" 蔬菜 ", "vegetables"),
    ],
)
def test_choice_accepts_key_label_or_alias(raw: str, key: str) -> None:
    assert SHIPPED.get("harvest").field("crop").parse(raw) == key


def test_unknown_choice_lists_the_options() -> None:
    error = answer_error(SHIPPED.get("harvest").field("crop"), "rice")
    assert error.key == "input.bad_choice"
    assert "树木、花卉" in error.message("zh")
    assert "Trees, Flowers" in error.message("en")


def test_text_longer_than_max_length_is_refused() -> None:
    note = SHIPPED.get("harvest").field("note")
    assert note.parse("  卖给了食堂  ") == "卖给了食堂"
    error = answer_error(note, "字" * 501)
    assert error.key == "input.too_long"
    assert "501" in error.message("zh") and "500" in error.message("zh")


@pytest.mark.parametrize("raw", ["2026-11-28", "2026/11/28", "2026.11.28", "2026年11月28日", "20261128", "２０２６－１１－２８"])
def test_date_answers_in_common_forms_parse(raw: str) -> None:
    assert make_field(type="date").parse(raw) == date(2026, 11, 28)


@pytest.mark.parametrize("raw", ["2026-02-30", "28/11/2026", "tomorrow", "2026-13-01"])
def test_bad_dates_are_refused(raw: str) -> None:
    error = answer_error(make_field(type="date"), raw)
    assert error.key == "input.bad_date"
    assert "2026-11-28" in error.message("en")


def test_leap_day_is_a_valid_date() -> None:
    assert make_field(type="date").parse("2028-02-29") == date(2028, 2, 29)


def test_invalid_answer_is_a_value_error_carrying_key_and_params() -> None:
    error = answer_error(SHIPPED.get("milk").field("days_served"), "40")
    assert isinstance(error, ValueError)
    assert error.params["field"] == SHIPPED.get("milk").field("days_served").label


# --- showing and storing answers ---------------------------------------------------------


def test_format_shows_numbers_with_separators_and_unit() -> None:
    harvest = SHIPPED.get("harvest")
    assert harvest.field("income").format(Decimal(12000), "zh") == "12,000 元"
    assert harvest.field("income").format(Decimal(12000), "en") == "12,000 yuan"
    assert harvest.field("income").format(Decimal("12000.5"), "zh") == "12,000.50 元"
    assert harvest.field("area_mu").format(Decimal("3.5"), "zh") == "3.5 亩"
    assert make_field().format(Decimal(7), "zh") == "7"


def test_format_shows_choice_label_and_iso_date() -> None:
    crop = SHIPPED.get("harvest").field("crop")
    assert crop.format("fruit", "zh") == "瓜果（含西瓜）"
    assert crop.format("fruit", "en") == "Fruit and melons"
    assert crop.format("rice", "en") == "rice"  # a key from an older catalogue version
    assert make_field(type="date").format(date(2026, 11, 28), "en") == "2026-11-28"


@pytest.mark.parametrize(
    ("field", "raw", "stored"),
    [
        (SHIPPED.get("harvest").field("income"), "1.2万", (Decimal(12000), None)),
        (SHIPPED.get("harvest").field("crop"), "西瓜", (None, "fruit")),
        (SHIPPED.get("harvest").field("note"), "卖给食堂", (None, "卖给食堂")),
        (make_field(type="date"), "2026年11月28日", (None, "2026-11-28")),
    ],
)
def test_storage_round_trip(field: Field, raw: str, stored: tuple[Decimal | None, str | None]) -> None:
    value = field.parse(raw)
    assert field.to_storage(value) == stored
    assert field.from_storage(*stored) == value


def test_skipped_answer_is_stored_as_nothing() -> None:
    quantity = SHIPPED.get("harvest").field("quantity")
    assert quantity.to_storage(None) == (None, None)
    assert quantity.from_storage(None, None) is None


def test_from_storage_drops_database_scale() -> None:
    assert str(SHIPPED.get("harvest").field("income").from_storage(Decimal("12000.0000"), None)) == "12000"


def test_storage_column_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError):
        SHIPPED.get("harvest").field("income").from_storage(None, "12000")
    with pytest.raises(TypeError):
        SHIPPED.get("harvest").field("income").to_storage("12000")


def test_shipped_defaults_parse() -> None:
    incidents = SHIPPED.get("milk").field("incidents")
    assert incidents.default is not None
    assert incidents.parse(incidents.default) == Decimal(0)


# --- message keys --------------------------------------------------------------------------


def _keys_in_source(module: object, prefix: str) -> set[str]:
    path = Path(str(module.__file__))
    return set(re.findall(rf"\"({prefix}\.[a-z_]+)\"", path.read_text(encoding="utf-8")))


def test_every_message_key_the_code_can_use_exists_in_both_languages() -> None:
    # Answer messages are raised where fields read answers (bot.core.fields).
    catalogue_keys = _keys_in_source(fields_module, "input")
    period_keys = _keys_in_source(periods_module, "period")
    assert ANSWER_MESSAGE_KEYS <= catalogue_keys  # the list names keys the code really uses
    assert catalogue_keys - {"input.unit_hint"} == ANSWER_MESSAGE_KEYS  # and it is complete
    assert period_keys  # the scan found the period names
    for key in catalogue_keys | period_keys:
        assert key in messages(), key
        for lang in LANGUAGES:
            assert messages()[key][lang].strip(), (key, lang)


@pytest.mark.parametrize("key", sorted(ANSWER_MESSAGE_KEYS))
@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_answer_message_renders_with_all_params(key: str, lang: str) -> None:
    params: dict[str, Text | Decimal | str | int] = {
        "field": Text(zh="数量", en="Amount"),
        "unit": Text(zh="元", en="yuan"),
        "min": Text(zh="0 元", en="0 yuan"),
        "max": Text(zh="10 元", en="10 yuan"),
        "value": Text(zh="12 元", en="12 yuan"),
        "choices": Text(zh="甲、乙", en="A, B"),
        "places": 2,
        "max_length": 500,
        "length": 501,
        "example": Text(zh="12 元", en="12 yuan"),
        "word": "人",
        "what": Text(zh="金额", en="money"),
    }
    text = InvalidAnswer(key, params).message(lang)
    assert "{" not in text and "}" not in text


def test_a_forms_own_unit_is_accepted_after_the_number() -> None:
    field = load_catalogue_text(UNIFORM_FORM).get("uniform").field("sets_ordered")
    assert field.parse("1,150套") == Decimal(1150)
    assert field.parse("1150 sets") == Decimal(1150)
    assert field.parse("一千一百五十套") == Decimal(1150)


def test_form_key_longer_than_24_characters_is_refused() -> None:
    with pytest.raises(CatalogueInvalid, match="a_very_long_form_key_that_overflows"):
        load_catalogue_text(
            """
[[forms]]
key = "a_very_long_form_key_that_overflows"
version = 1
title = { zh = "x", en = "x" }
short = { zh = "x", en = "x" }
command = "longform"
cadence = "yearly"

[[forms.fields]]
key = "n"
label = { zh = "n", en = "n" }
type = "integer"
"""
        )


def test_every_command_the_bot_wires_is_reserved_from_forms() -> None:
    from bot.app import build_application
    from bot.runtime.menus import COMMANDS, wired_commands
    from bot.settings import Settings

    application = build_application(Settings(_env_file=None))  # type: ignore[call-arg]
    form_commands = {form.command for form in application.bot_data.services.catalogue}
    own = (wired_commands(application) - form_commands) | {c.name for c in COMMANDS}
    assert own <= catalogue_module.RESERVED_COMMANDS, own - catalogue_module.RESERVED_COMMANDS


def test_a_huge_pasted_number_is_echoed_shortened_in_the_re_ask() -> None:
    field = load_catalogue().get("milk").field("days_served")
    with pytest.raises(InvalidAnswer) as caught:
        field.parse("9" * 5000)
    message = caught.value.message("zh")
    assert len(message) < 200 and "…" in message


# --- validation rules -----------------------------------------------------------------


def test_the_shipped_forms_carry_their_rules() -> None:
    insurance, milk, harvest = SHIPPED.get("insurance"), SHIPPED.get("milk"), SHIPPED.get("harvest")
    [insured] = insurance.rules
    assert (insured.key, insured.severity, insured.fields) == (
        "insured_within_enrolled",
        Severity.ERROR,
        ["students_enrolled", "students_insured"],
    )
    assert insured.holds({"students_insured": Decimal(1201), "students_enrolled": Decimal(1200)}) is False
    assert insured.holds({"students_insured": Decimal(1200), "students_enrolled": Decimal(1200)}) is True
    [days] = milk.rules
    assert days.fields == ["days_served"], "days_in_period is a fact of the period, not a field"
    assert days.holds({"days_served": Decimal(31), "days_in_period": Decimal(30)}) is False
    [quantity] = harvest.rules
    assert quantity.severity is Severity.WARNING
    assert quantity.holds({"income": Decimal(800), "quantity": None, "crop": "vegetables"}) is False
    assert quantity.holds({"income": Decimal(800), "quantity": None, "crop": "trees"}) is True


RULE = """
[[forms.fields]]
key = "second"
label = {{ zh = "第二项", en = "Second" }}
type = "text"
required = false

[[forms.rules]]
key = "{key}"
check = '{check}'
message = {{ zh = "不对", en = "Wrong" }}
"""


@pytest.mark.parametrize(
    ("check", "problem"),
    [
        ("first <= secnd", "form 'broken': rule 'r1': unknown name 'secnd'"),
        ("first > second", "form 'broken': rule 'r1': compares 'first' (number) with 'second' (text)"),
        ("first +", "form 'broken': rule 'r1': cannot read"),
        ("first", "form 'broken': rule 'r1': 'first' is a number, not a condition"),
    ],
)
def test_a_broken_rule_is_one_line_naming_form_and_rule(check: str, problem: str) -> None:
    with pytest.raises(CatalogueInvalid) as refused:
        load_catalogue_text(field_toml(RULE.format(key="r1", check=check)))
    line = str(refused.value)
    assert "\n" not in line and line.startswith("<catalogue>: ") and problem in line


def test_rule_keys_are_unique_in_a_form() -> None:
    body = RULE.format(key="r1", check="first >= 0") + RULE.format(key="r1", check="first >= 1").split("[[forms.rules]]")[1].join(
        ["[[forms.rules]]", ""]
    )
    with pytest.raises(CatalogueInvalid, match="duplicate rule key 'r1'"):
        load_catalogue_text(field_toml(body))


def test_a_fourth_form_gets_a_rule_from_catalogue_text_only() -> None:
    text = (
        SHIPPED_CATALOGUE.read_text(encoding="utf-8")
        + UNIFORM_FORM
        + """
[[forms.rules]]
key = "some_sets"
check = "sets_ordered > 0"
severity = "warning"
message = { zh = "征订套数为 0。", en = "No sets ordered." }
"""
    )
    uniform = load_catalogue_text(text).get("uniform")
    [rule] = uniform.rules
    assert rule.holds({"sets_ordered": Decimal(0)}) is False and rule.severity is Severity.WARNING
