"""One process taking from a SharedBudget as fast as it can (tests/service/test_send_budget.py starts two).

Usage: python tests/budget_worker.py URL MODE SECONDS RATE [CHAT_ID [INTERACTIVE_PER_S [BULK_STREAMS]]]

MODE ``bulk`` takes bulk tokens, ``chat`` the chat's token; both print the
database times of the grants (epoch seconds), one a line. The message modes
take every token a message needs, as the bot's senders do, with the shared
``telegram`` schedule's slots RATE a second (the bulk bucket does not limit):
``send-bulk`` and ``send-interactive`` to CHAT_ID as fast as they can, ``mixed``
BULK_STREAMS bulk streams (1 unless given; a bot has a broadcast and a reminder
tick in flight at once) to new chats as fast as they can beside
INTERACTIVE_PER_S replies a second to new chats. They print
``lane wait chat_grant telegram_grant`` a line
(wait: seconds from asking to the shared grant; chat_grant 0 when none).
"""

from __future__ import annotations

import asyncio
import itertools
import sys
import time

from storage.budget import SharedBudget
from storage.db import Database

CHATS = itertools.count(10_000 + int(time.time() * 1000) % 1_000_000 * 1000)


async def send(budget: SharedBudget, chat: int, bulk: bool) -> None:
    asked = time.monotonic()
    grant = await budget.take_send(chat, bulk=bulk)
    wait = time.monotonic() - asked
    chat_at = grant.chat.timestamp() if grant.chat else 0.0
    print("bulk" if bulk else "interactive", f"{wait:.4f}", chat_at, grant.telegram.timestamp(), flush=True)


async def messages(budget: SharedBudget, mode: str, end: float, chat_id: int, per_second: float, streams: int) -> None:
    async def bulk_stream() -> None:
        while time.monotonic() < end:
            await send(budget, chat_id if mode == "send-bulk" else next(CHATS), True)

    async def replies() -> None:
        while time.monotonic() < end:
            if mode == "send-interactive":
                await send(budget, chat_id, False)
                continue
            # Replies arrive at their own pace, each on its own (as updates do), never queued behind the last.
            asyncio.get_running_loop().create_task(send(budget, next(CHATS), False))
            await asyncio.sleep(1.0 / per_second)

    # Factories, not coroutines: a coroutine made for a mode that does not run would never be awaited.
    lanes = {"send-bulk": [bulk_stream], "send-interactive": [replies], "mixed": [*[bulk_stream] * streams, replies]}
    await asyncio.gather(*(lane() for lane in lanes[mode]))
    await asyncio.sleep(1.5)  # the last replies' grants (a loaded machine answers slowly)


async def main(url: str, mode: str, seconds: float, rate: float, chat_id: int, per_second: float, streams: int) -> None:
    db = Database(url)
    if mode in ("bulk", "chat"):
        budget = SharedBudget(db.engine, rate=rate, bucket="test-bulk")
    else:
        budget = SharedBudget(db.engine, rate=1000.0, overall_rate=rate, bucket="test-lanes-bulk", overall_bucket="test-lanes")
    try:
        end = time.monotonic() + seconds
        if mode not in ("bulk", "chat"):
            await messages(budget, mode, end, chat_id, per_second, streams)
            return
        while time.monotonic() < end:
            granted = await (budget.take_bulk() if mode == "bulk" else budget.take_chat(chat_id))
            print(granted.timestamp(), flush=True)
    finally:
        await db.dispose()


if __name__ == "__main__":
    args = sys.argv[1:]
    chat = int(args[4]) if len(args) > 4 else 0
    per_second = float(args[5]) if len(args) > 5 else 0.0
    streams = int(args[6]) if len(args) > 6 else 1
    asyncio.run(main(args[0], args[1], float(args[2]), float(args[3]), chat, per_second, streams))
