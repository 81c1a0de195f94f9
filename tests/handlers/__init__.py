"""The real Application driven through the fake Bot API at PTB's request layer."""
