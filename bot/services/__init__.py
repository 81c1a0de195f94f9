"""Use cases the handlers, the scheduler and the CLI call: Telegram-free, tested directly."""
