"""The report flow without a database: whole forms walked on the state value, from the shipped catalogue."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from bot.core.catalogue import load_catalogue
from bot.core.ui import Screen
from bot.reporting.codec import Start
from bot.reporting.flow import Begin, Cancel, Event, Media, Press, Skip, Typed, render, step
from bot.reporting.state import (
    Ctx,
    CurrentReport,
    DraftState,
    Facts,
    FiledPeriods,
    PastFigures,
    PeerFigures,
    Programmes,
    Query,
    RecentEntries,
    ReportById,
    SavedReport,
    SchoolName,
    Step,
)

CATALOGUE = load_catalogue()
SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 26, 10, 0, tzinfo=SHANGHAI)
STALE = "这个按钮已经失效了"


@dataclass
class World:
    """The facts a host would fetch, kept in memory; ``asked`` records what the flow asked for."""

    programmes: frozenset[str] = frozenset({"milk", "farm"})
    reports: list[SavedReport] = field(default_factory=list)
    asked: list[Query] = field(default_factory=list)

    def answer(self, query: Query) -> Any:
        self.asked.append(query)
        match query:
            case Programmes():
                return self.programmes
            case FiledPeriods(form_key, periods):
                return frozenset(r.period for r in self.reports if r.form_key == form_key and r.period in periods)
            case CurrentReport(form_key, period, series):
                found = [r for r in self.reports if (r.form_key, r.period, r.series) == (form_key, period, series)]
                return found[0] if found else None
            case ReportById(report_id):
                return next((r for r in self.reports if r.id == report_id), None)
            case SchoolName(_):
                return "别的学校"
            case PastFigures() | RecentEntries():
                return ()  # no history: the checks at the review have nothing to compare with
            case PeerFigures():
                return {}
        raise AssertionError(query)


@dataclass
class Chat:
    """One principal's conversation on the pure flow: the state value carried from step to step."""

    world: World = field(default_factory=World)
    state: DraftState | None = None
    tokens: int = 0
    last: Step | None = None
    screens: list[Screen] = field(default_factory=list)

    def ctx(self, **overrides: Any) -> Ctx:
        self.tokens += 1
        values: dict[str, Any] = dict(
            catalogue=CATALOGUE,
            now=NOW,
            tz=SHANGHAI,
            lang="zh",
            school_id=1,
            ttl_days=7,
            facts=Facts(oracle=self.world.answer),
            token=f"t{self.tokens}",
        )
        values.update(overrides)
        return Ctx(**values)

    def do(self, event: Event, **overrides: Any) -> list[Screen]:
        ctx = self.ctx(**overrides)
        self.last = step(self.state, event, ctx)
        self.screens = render(self.last, ctx)
        self.state = self.last.state
        return self.screens

    def data(self, label: str) -> str:
        """The data of the last screen's button whose label contains ``label``."""
        for row in self.screens[-1].buttons:
            for button in row:
                if label in button.label:
                    return button.data
        raise AssertionError(f"no button {label!r} in {self.screens[-1]}")

    def press(self, label: str) -> list[Screen]:
        return self.do(Press(self.data(label)))

    @property
    def text(self) -> str:
        return self.screens[-1].text


def test_milk_walks_period_typed_answers_a_choice_and_the_default_to_the_save_intent() -> None:
    chat = Chat()
    chat.do(Begin(Start("form", form_key="milk")))
    assert chat.state is not None and chat.state.step == "period" and chat.state.token == "t1"
    assert "★ 2026年10月" in [b.label for row in chat.screens[-1].buttons for b in row]

    chat.press("★")
    assert chat.state.period == "2026-10" and chat.state.step == "daily_drinkers"
    assert "（第 1/4 项）" in chat.text and "请填写日参饮人数" in chat.text

    chat.do(Typed("八百五十六"))
    assert chat.state.answers == {"daily_drinkers": "856"} and "供奶天数" in chat.text

    chat.do(Typed("很多天"))  # not a number: re-asked, nothing kept
    assert "没看懂这个数字" in chat.text
    assert chat.state.step == "days_served" and chat.state.answers == {"daily_drinkers": "856"}

    chat.do(Typed("21"))
    assert "请选择供奶企业" in chat.text
    chat.press("伊利")
    assert chat.state.answers["supplier"] == "yili" and chat.last is not None and chat.last.used_up

    chat.press("填 0")
    assert chat.state.step == "review"
    assert chat.text.startswith("请核对") and " · 2026年10月" in chat.text.splitlines()[0]
    assert "• 日参饮人数：856" in chat.text and "• 供奶企业：伊利" in chat.text

    chat.press("✅ 提交")
    save = chat.last.save if chat.last else None
    assert save is not None and chat.screens == []
    assert save.form.key == "milk" and save.period.key == "2026-10" and save.based_on is None and save.series == ""
    assert save.values["daily_drinkers"] == (Decimal(856), None)
    assert save.values["supplier"] == (None, "yili") and save.values["incidents"] == (Decimal(0), None)
    assert save.late and save.changed is None  # issue 13: October, the month offered, was due on 5 Nov
    # Asked: the school's forms, the periods filed (for the menu), the report filed for the
    # period chosen (none) and the school's past reports (issue 13: last period's answers),
    # other schools' figures at submit (the history checks); no answer fetched anything.
    assert [type(q) for q in chat.world.asked] == [Programmes, FiledPeriods, CurrentReport, PastFigures, PeerFigures]


def test_harvest_skips_edits_from_the_review_goes_back_and_starts_a_new_series() -> None:
    chat = Chat()
    chat.do(Begin(Start("form", form_key="harvest")))
    assert chat.state is not None and chat.state.step == "period"
    assert chat.world.asked == [Programmes()]  # harvests are events: no "filed already" marks to look up
    chat.press("★")
    assert chat.state.period == "2026-Q4" and chat.state.step == "crop"
    chat.press("蔬菜")
    chat.do(Typed("3.5亩"))
    assert chat.state.answers["area_mu"] == "3.5"
    chat.do(Skip())  # the quantity is optional
    assert chat.state.answers["quantity"] is None and chat.state.step == "income"
    chat.do(Typed("1.2万"))
    chat.do(Typed("１２０"))
    assert chat.state.answers["income"] == "12000" and chat.state.answers["participants"] == "120"
    chat.press("跳过")  # the note
    assert chat.state.step == "review" and "• 收获数量：（未填）" in chat.text and "• 备注：（未填）" in chat.text

    chat.press("✏️ 销售收入")
    assert chat.state.step == "income" and chat.state.editing
    assert "目前填的是" in chat.text and "12,000" in chat.text
    chat.press("返回核对")  # keep it as it was
    assert chat.state.step == "review" and not chat.state.editing and chat.state.answers["income"] == "12000"

    chat.press("✏️ 销售收入")
    chat.do(Typed("13000"))
    assert chat.state.step == "review" and chat.state.answers["income"] == "13000"  # back to the review, not on

    chat.press("提交")
    # Income without a quantity (issue 13's shipped warning rule): submitted with a reason.
    assert chat.state.step == "review.reason" and "填了销售收入，却没有填收获数量" in chat.text
    chat.do(Typed("按筐卖的，没有称重"))
    save = chat.last.save if chat.last else None
    assert save is not None and save.series is None  # each harvest is its own series
    assert [(f.code, f.reason) for f in save.flags] == [("rule:income_needs_quantity", "按筐卖的，没有称重")]
    assert save.values["crop"] == (None, "vegetables") and save.values["income"] == (Decimal(13000), None)
    assert "quantity" not in save.values and "note" not in save.values


def test_insurance_refuses_skipping_a_required_question_and_cancels() -> None:
    chat = Chat()
    chat.do(Begin(Start("form", form_key="insurance")))
    if chat.state is not None and chat.state.step == "period":
        chat.press("★")
    assert chat.state is not None and chat.state.step == "students_enrolled"
    chat.do(Skip())
    assert chat.text == "在校学生数是必填项，不能跳过。" and chat.state.step == "students_enrolled"
    chat.do(Typed("-5"))
    assert "不能是负数" in chat.text and chat.state.answers == {}
    chat.do(Typed("1200"))
    chat.do(Media())
    assert "图片、贴纸或语音无法识别" in chat.text and chat.state.step == "students_insured"
    chat.do(Cancel())
    assert chat.state is None and chat.text.startswith("已取消")
    chat.do(Skip())
    assert chat.text == "现在没有可以跳过的问题。"


def test_a_press_from_an_older_draft_or_a_step_gone_by_changes_nothing() -> None:
    chat = Chat()
    chat.do(Begin(Start("form", form_key="milk")))
    old_period = chat.data("★")
    chat.press("★")
    before = chat.state
    chat.do(Press(old_period))  # right token, but the period step is over
    assert chat.last is not None and chat.last.alert is not None and STALE in chat.last.alert
    assert chat.state == before and chat.screens == []
    chat.do(Press("r:someoneelse:ok"))
    assert chat.last.alert is not None and STALE in chat.last.alert and chat.state == before


def test_a_redelivered_update_only_shows_where_the_draft_is() -> None:
    chat = Chat()
    chat.do(Begin(Start("form", form_key="milk")))
    chat.press("★")
    chat.do(Typed("856"), update_id=7)
    assert chat.state is not None and chat.state.last_update_id == 7
    chat.do(Typed("856"), update_id=7)  # Telegram sent it again after a restart
    assert chat.state.answers == {"daily_drinkers": "856"} and chat.state.step == "days_served"
    assert "请填写供奶天数" in chat.text


def test_a_form_the_school_does_not_report_is_refused_and_a_filed_period_offers_a_correction() -> None:
    chat = Chat(World(programmes=frozenset({"milk"})))
    chat.do(Begin(Start("form", form_key="harvest")))
    assert chat.state is None and chat.text.startswith("本校不需要填报「")

    filed = SavedReport(
        id=9, school_id=1, school_name="一小", form_key="milk", period="2026-10", series="", version=1,
        is_current=True, is_late=False, reporter_name="王校长", submitted_at=NOW - timedelta(days=1),
        values={"daily_drinkers": (Decimal(800), None)},
    )  # fmt: skip
    chat.world.reports.append(filed)
    chat.do(Begin(Start("go", form_key="milk", period="2026-10")))
    assert chat.text.startswith("本校2026年10月的学生饮用奶") and "第 1 版，王校长" in chat.text
    chat.press("更正这份报表")
    assert chat.state is not None and chat.state.correction_of == 9 and chat.state.answers == {"daily_drinkers": "800"}
    assert chat.state.step == "days_served"


def test_an_expired_draft_is_dropped_with_its_answers_shown() -> None:
    chat = Chat()
    chat.do(Begin(Start("form", form_key="milk")))
    chat.press("★")
    chat.do(Typed("856"))
    chat.do(Typed("22"), now=NOW + timedelta(days=8))
    assert chat.state is None and chat.last is not None and not chat.last.consumed
    assert "856" in chat.screens[0].text
