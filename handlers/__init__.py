"""PTB handlers, one module per conversation or command family. Thin: Update → service → reply."""
