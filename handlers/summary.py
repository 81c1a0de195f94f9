"""``/summary``, ``/export`` and ``/annual``: the office's figures in chat.

``/summary [form] [period]`` answers with a chart and a phone-readable table
(buttons switch the form and step through periods); ``/export [form]
[period|year]`` sends an XLSX; either typed without a form offers form and
period buttons (``bot.office.figures_pick``); ``/annual [year]`` sends the year-end draft as
text and DOCX. Thin: what to answer is ``bot.office.figures``; this module
sends it.
"""

from __future__ import annotations

from telegram import InputFile, Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from bot.context import Context
from bot.core.ui import Screen
from bot.delivery.markup import markup
from bot.office import figures
from handlers.common import Edited, edit_in_place
from handlers.guards import staff_only


async def _send(update: Update, context: Context, answer: figures.Answer) -> None:
    """Send the answer's screens and files, in order, to the chat of the update."""
    chat = update.effective_chat
    assert chat is not None
    for part in answer.parts:
        if isinstance(part, Screen):
            await context.bot.send_message(chat.id, part.text, reply_markup=markup(part))
        elif part.photo:
            await context.bot.send_photo(chat.id, InputFile(part.data, filename=part.filename), caption=part.caption)
        else:
            await context.bot.send_document(chat.id, InputFile(part.data, filename=part.filename), caption=part.caption)


async def _reply(update: Update, context: Context, answer: figures.Answer | figures.Refusal) -> None:
    if isinstance(answer, figures.Refusal):
        assert update.effective_message is not None
        await update.effective_message.reply_text(answer.text)
    else:
        await _send(update, context, answer)


@staff_only
async def summary_command(update: Update, context: Context) -> None:
    """Show the chart and the summary table for the form and period named (or the defaults)."""
    await _reply(update, context, await figures.summary(context.services, context.who, context.lang, context.args or []))


@staff_only
async def summary_button(update: Update, context: Context) -> None:
    """Switch form or period in place, or send the chart or spreadsheet of the view shown."""
    query = update.callback_query
    assert query is not None
    pressed = figures.read_button(context.services, context.lang, query.data or "")
    if not isinstance(pressed, figures.Refusal):
        pressed = await figures.in_scope(context.services, context.who, context.lang, pressed)
    if isinstance(pressed, figures.Refusal):
        await query.answer(pressed.text, show_alert=True)
        return
    await query.answer()
    await _answer_press(update, context, await figures.press(context.services, context.lang, pressed))


@staff_only
async def pick_button(update: Update, context: Context) -> None:
    """A form or period button of /summary or /export typed alone: the next choice in place, or the workbook."""
    query = update.callback_query
    assert query is not None
    answer = await figures.pick(context.services, context.who, context.lang, query.data or "")
    if isinstance(answer, figures.Refusal):
        await query.answer(answer.text, show_alert=True)
        return
    await query.answer()
    await _answer_press(update, context, answer)


async def _answer_press(update: Update, context: Context, answer: figures.Answer) -> None:
    """Show a pressed button's answer: in place of the pressed message, or as new messages and files."""
    query = update.callback_query
    assert query is not None
    if answer.in_place:
        (screen,) = answer.parts
        assert isinstance(screen, Screen)
        if await edit_in_place(query, screen.text, markup(screen)) is Edited.GONE:
            # Pressed on a message the bot cannot edit: the view still has to appear.
            await context.bot.send_message(query.from_user.id, screen.text, reply_markup=markup(screen))
        return
    await _send(update, context, answer)


@staff_only
async def export_command(update: Update, context: Context) -> None:
    """Send the XLSX for the form and period (or whole year) named, or the defaults."""
    await _reply(update, context, await figures.export(context.services, context.who, context.lang, context.args or []))


@staff_only
async def annual_command(update: Update, context: Context) -> None:
    """Send the year-end report draft for the year named (default: this year) as text and DOCX."""
    await _reply(update, context, await figures.annual(context.services, context.who, context.lang, context.args or []))


def build_summary_handlers() -> list[BaseHandler[Update, Context, None]]:
    return [
        CommandHandler("summary", summary_command),
        CommandHandler("export", export_command),
        CommandHandler("annual", annual_command),
        # Before the view buttons: form and period pickers share the "sum:" prefix.
        CallbackQueryHandler(pick_button, pattern=r"^sum:[pey]:"),
        CallbackQueryHandler(summary_button, pattern=r"^sum:"),
    ]
