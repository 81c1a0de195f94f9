"""Use cases, storage and commands against a real database."""
