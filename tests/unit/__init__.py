"""Tests with no database and no application."""
