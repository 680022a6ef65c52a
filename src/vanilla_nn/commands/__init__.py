"""Subcommands of the ``vanilla-nn`` command line, one module each."""
