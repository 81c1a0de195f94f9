"""One module per ``schoolbot`` subcommand."""
