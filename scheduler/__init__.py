"""Reminders to principals and digests to the office, run by PTB's JobQueue.

- ``policy``: which reminder slot is due when (quiet hours, holidays, catch-up) — pure functions.
- ``digests``: who is overdue, completeness per district, and the staff digests' wording.
- ``tick``: the repeating job that plans from the database, claims each send, then sends it;
  manual nudges from ``/overdue`` go through it too.

Start it with ``scheduler.tick.start_reminders(application)`` (``bot.app.start_services`` does);
tests drive ``scheduler.tick.ticker_of(application).tick()`` directly with a ``FixedClock``.
"""
