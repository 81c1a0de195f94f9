"""End-to-end tests over real HTTP against the fake Bot API server (``bot.offline.fakeserver``)."""
