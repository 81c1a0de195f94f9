"""Persistence: SQLAlchemy models, the engine, named queries and migrations.

Nothing here imports Telegram: handlers and the scheduler call services, and
services call these functions.
"""
