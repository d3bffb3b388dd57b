#!/usr/bin/env python3
"""eapbench: `python run_bench.py <command> [options]`; `--help` lists the commands.

A thin entry point: everything lives in the `bench` package (see bench/cli.py).
"""

import sys

from bench.cli import main as _main


def main() -> None:
    sys.exit(_main())


if __name__ == "__main__":
    main()
