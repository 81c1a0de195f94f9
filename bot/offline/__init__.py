"""Everything that runs without Telegram: fake Bot API, loopback server, simulator, console, demo data."""
