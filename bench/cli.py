"""The command-line interface: one sub-command per module in ``bench/commands``.

Each command module defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``.
Dropping a new module into ``bench/commands`` adds a command; nothing here needs editing.
With no command at all, the main job (``all``) runs.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from types import ModuleType

import bench.commands
from bench.core import UsageError
from bench.core.plugins import load_plugins

DEFAULT_COMMAND = "all"


class _Parser(argparse.ArgumentParser):
    """argparse that reports bad input as one line and exit code 2."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _command_modules() -> list[ModuleType]:
    paths = bench.commands.__path__
    mods = [importlib.import_module(f"bench.commands.{m.name}") for m in pkgutil.iter_modules(paths)]
    mods = [m for m in mods if hasattr(m, "NAME") and hasattr(m, "run")]
    return sorted(mods, key=lambda m: (getattr(m, "ORDER", 50), m.NAME))


def _plugin_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--plugin",
        action="append",
        default=[],
        metavar="PATH|MODULE",
        help="import a plugin first (a .py file or a module) that registers models, metrics, data layouts, "
        "timing backends, counting tools or op rules; repeatable; also $EAPBENCH_PLUGINS",
    )


def split_plugins(argv: list[str]) -> tuple[list[str], list[str]]:
    """``--plugin`` values (anywhere on the line) and the rest of ``argv``.

    Plugins are imported before the full parser is built, so that what they register is in its
    ``choices=`` and ``--help``.
    """
    pre = _Parser(prog="eapbench", add_help=False, allow_abbrev=False)
    _plugin_option(pre)
    known, rest = pre.parse_known_args(argv)
    return known.plugin, rest


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="eapbench",
        description="Benchmark efficient multi-frame HDR networks (EAPNet, AHDR, ADNet): "
        "complexity, runtime, NTIRE metrics and the paper's tables. "
        f"With no command, runs the main job ('{DEFAULT_COMMAND}').",
    )
    _plugin_option(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for mod in _command_modules():
        p = sub.add_parser(mod.NAME, help=mod.HELP, description=getattr(mod, "DESCRIPTION", mod.HELP))
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    plugins, argv = split_plugins(argv)
    try:
        load_plugins(plugins)
    except UsageError as exc:
        print(f"eapbench: error: {exc}", file=sys.stderr)
        return 2
    parser = build_parser()
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
        argv = [DEFAULT_COMMAND, *argv]
    args = parser.parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except UsageError as exc:
        print(f"eapbench {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"eapbench {args.command}: interrupted", file=sys.stderr)
        return 130
