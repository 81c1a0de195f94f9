"""The office's use cases: registration and people, broadcasts, summaries, nudges, scope, roster."""
