"""The domain, with no Telegram and no database: catalogue, numbers, periods, clock, texts, UI model."""
