"""The documentation covers the CLI: every command and option is in the README or docs/, every link resolves."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from bench.cli import build_parser

REPO = Path(__file__).resolve().parent.parent
DOCS = sorted((REPO / "docs").glob("*.md"))
PAGES = [REPO / "README.md", *DOCS]  # where commands and options must be documented
LINKED = [*PAGES, REPO / "CONTRIBUTING.md"]  # whose links must resolve

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*$", re.M)


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The parser's sub-commands by name (argparse has no public accessor for them)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def long_options(parser: argparse.ArgumentParser) -> list[str]:
    """Every ``--option`` of a parser but ``--help``."""
    return [o for a in parser._actions for o in a.option_strings if o.startswith("--") and o != "--help"]


def without_code_blocks(text: str) -> str:
    return FENCE.sub("", text)


def anchors(text: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces as dashes, repeats numbered."""
    seen: dict[str, int] = {}
    out = set()
    for heading in HEADING.findall(without_code_blocks(text)):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out


@pytest.fixture(scope="module")
def parser() -> argparse.ArgumentParser:
    return build_parser()


@pytest.fixture(scope="module")
def docs_text() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in PAGES)


def test_the_docs_pages_exist():
    names = {p.name for p in DOCS}
    assert {"counting.md", "timing.md", "data-and-metrics.md", "training.md", "reports.md"} <= names
    assert {"plugins.md", "models.md"} <= names and (REPO / "CONTRIBUTING.md").is_file()


def test_every_command_appears_in_the_docs(parser, docs_text):
    commands = subcommands(parser)
    assert len(commands) >= 11, sorted(commands)  # all, list, profile, time, ... results
    missing = [
        name
        for name in commands
        if not re.search(
            rf"\b(run_bench\.py|eapbench)(\s+--plugin\s+\S+)?\s+{re.escape(name)}(?![\w-])", docs_text
        )
    ]
    assert not missing, f"commands not documented as `run_bench.py <command>`: {missing}"


def test_every_option_appears_in_the_docs(parser, docs_text):
    wanted = {(None, o) for o in long_options(parser)}  # global options (--plugin)
    wanted |= {(name, o) for name, sub in subcommands(parser).items() for o in long_options(sub)}
    missing = sorted(
        f"{name or 'eapbench'} {option}"
        for name, option in wanted
        if not re.search(rf"{re.escape(option)}(?![\w-])", docs_text)
    )
    assert not missing, f"options documented nowhere in README.md or docs/: {missing}"


@pytest.mark.parametrize("page", LINKED, ids=lambda p: p.relative_to(REPO).as_posix())
def test_relative_links_resolve(page):
    text = page.read_text(encoding="utf-8")
    broken = []
    for target in LINK.findall(without_code_blocks(text)):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        path, _, fragment = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            broken.append(target)
        elif fragment and dest.suffix == ".md" and fragment not in anchors(dest.read_text(encoding="utf-8")):
            broken.append(f"{target} (no such heading)")
    assert not broken, f"{page.name}: broken links {broken}"


@pytest.mark.parametrize("page", LINKED, ids=lambda p: p.relative_to(REPO).as_posix())
def test_python_examples_compile(page):
    for lang, code in FENCE.findall(page.read_text(encoding="utf-8")):
        if lang == "python":
            compile(code, f"{page.name} example", "exec")


def test_anchor_and_link_parsing():
    """Headings become GitHub anchors (repeats numbered) and links are found in text and images."""
    assert anchors("# Counting tools (for `--cross-check`)\n## A b\n## A b") == {
        "counting-tools-for---cross-check",
        "a-b",
        "a-b-1",
    }
    assert LINK.findall("see [x](docs/missing.md#here) and ![p](a.png)") == ["docs/missing.md#here", "a.png"]
