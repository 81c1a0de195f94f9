"""Reminders to principals and digests to the office, run by PTB's JobQueue.

- ``policy``: which reminder slot is due when (quiet hours, holidays, catch-up) — pure functions.
- ``digests``: who is overdue and completeness per district (the wording is ``bot.render.digest``).
- ``plan``: what is due now — reminders, nudges, digests — read from the database and the clock.
- ``nudges``: manual nudges queued by staff from ``/overdue``.
- ``claims``: claiming what the plan found (the outbox of ``storage.outbox``), one delivery per row.
- ``tick``: the repeating job — plan, claim, deliver, record — and its start/stop.

Start it with ``scheduler.tick.start_reminders(application)`` (``bot.app.start_services`` does);
tests drive ``scheduler.tick.ticker_of(application).tick()`` directly with a ``FixedClock``.
"""
