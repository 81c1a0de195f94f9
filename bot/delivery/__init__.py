"""Getting messages to Telegram: one send and its outcome, pacing, the broadcast sender."""
