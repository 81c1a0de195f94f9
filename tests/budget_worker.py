"""One process taking from a SharedBudget as fast as it can (tests/service/test_send_budget.py starts two).

Usage: python tests/budget_worker.py URL bulk|chat SECONDS RATE [CHAT_ID]
Prints the database times of the grants (epoch seconds), one a line.
"""

from __future__ import annotations

import asyncio
import sys
import time

from storage.budget import SharedBudget
from storage.db import Database


async def main(url: str, mode: str, seconds: float, rate: float, chat_id: int) -> None:
    db = Database(url)
    budget = SharedBudget(db.engine, rate=rate, bucket="test-bulk")
    try:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            granted = await (budget.take_bulk() if mode == "bulk" else budget.take_chat(chat_id))
            print(granted.timestamp(), flush=True)
    finally:
        await db.dispose()


if __name__ == "__main__":
    args = sys.argv[1:]
    asyncio.run(main(args[0], args[1], float(args[2]), float(args[3]), int(args[4]) if len(args) > 4 else 0))
