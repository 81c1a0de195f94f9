"""What keeps the application running: webhook server, per-user ordering, observability, menus."""
