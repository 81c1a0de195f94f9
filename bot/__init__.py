"""schoolbot: a Telegram bot for a city education bureau's work-study office."""

__version__ = "0.1.0"
