"""One module per subcommand; each has `register(subparsers, common)` (see cli.COMMAND_MODULES)."""
