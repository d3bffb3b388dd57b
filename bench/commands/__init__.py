"""One module per CLI command; see bench/cli.py for the interface each module provides."""
