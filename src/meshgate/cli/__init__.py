"""Command-line interface: one module per subcommand, listed explicitly in main.COMMANDS."""
