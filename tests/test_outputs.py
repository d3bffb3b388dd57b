"""Where outputs go: never a tracked file by default, never into a data set being read; progress
bars only on a terminal.

The default-output test runs the commands from a throw-away git copy of the checkout (its own
``bench/``, ``reports/`` and ``.gitignore``), so the defaults resolve inside that copy and its
``git status`` tells whether a tracked file changed or an unignored one appeared.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.cli import main
from bench.core import UsageError, check_output_file, check_outside, paths, progress, progress_enabled
from bench.jobs import measure

CHECKOUT = Path(__file__).resolve().parent.parent
COPIED = ("pyproject.toml", "run_bench.py", ".gitignore", "bench", "models", "reports")
TINY_VARIANT = CHECKOUT / "tests" / "fixtures" / "tiny_variant.py"


def git(repo: Path, *args: str) -> str:
    cmd = ["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid", *args]
    return subprocess.run(cmd, cwd=repo, check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def checkout_copy(tmp_path_factory) -> Path:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = tmp_path_factory.mktemp("checkout") / "eapbench"
    repo.mkdir()
    for name in COPIED:
        src = CHECKOUT / name
        if src.is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "latest", "results.sqlite*", "_data")
            shutil.copytree(src, repo / name, ignore=ignore)
        else:
            shutil.copy2(src, repo / name)
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "copy")
    assert git(repo, "status", "--porcelain") == ""
    return repo


def run_in(repo: Path, cache: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("EAPBENCH_DB", "EAPBENCH_PLUGINS")}
    env |= {
        "PYTHONPATH": str(repo),
        "EAPBENCH_CACHE": str(cache),
        "EAPBENCH_NO_PROGRESS": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    proc = subprocess.run(
        [sys.executable, "run_bench.py", *args],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    return proc


def test_default_outputs_leave_the_checkout_unchanged(checkout_copy, tmp_path):
    repo, cache = checkout_copy, tmp_path / "cache"
    snapshot = {p.name: p.read_bytes() for p in (repo / "reports" / "snapshot").iterdir()}
    run_in(repo, cache, "--quick", "--models", "ref-frame,eapnet-exp1", "--device", "cpu", "--no-plots")
    run_in(repo, cache, "report", "--no-plots")
    compare_args = ["--variant", f"{TINY_VARIANT}:tiny_hdr", "--against", "ref-frame", "--size", "64x48"]
    run_in(repo, cache, "compare", *compare_args, "--warmup", "0", "--repeat", "1", "--device", "cpu")
    run_in(repo, cache, "calibrate", "--copy-mib", "1", "--matmul-n", "32", "--repeat", "1")
    assert git(repo, "status", "--porcelain") == ""  # no tracked file changed, nothing unignored appeared
    latest = repo / "reports" / "latest"
    assert (latest / "index.md").is_file() and (latest / "table1.md").is_file()
    assert (latest / "results.sqlite").is_file()  # the default database is not a tracked file either
    assert list((latest / "compare").glob("compare_tiny-hdr.*"))
    assert list((cache / "calibration").glob("*.json"))
    assert {p.name: p.read_bytes() for p in (repo / "reports" / "snapshot").iterdir()} == snapshot


def test_defaults_point_at_the_ignored_folder():
    assert paths.OUTPUT_DIR == CHECKOUT / "reports" / "latest"
    assert paths.DEFAULT_DB.parent == paths.OUTPUT_DIR
    assert paths.SNAPSHOT_DIR == CHECKOUT / "reports" / "snapshot"
    assert (paths.SNAPSHOT_DIR / "index.md").is_file()
    ignored = "/reports/latest/"
    assert ignored in (CHECKOUT / ".gitignore").read_text().splitlines()


# --- progress bars ------------------------------------------------------------------------------


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_off_when_stderr_is_not_a_terminal(monkeypatch):
    monkeypatch.delenv("EAPBENCH_NO_PROGRESS", raising=False)
    log = io.StringIO()
    monkeypatch.setattr(sys, "stderr", log)
    assert not progress_enabled()
    assert list(progress(range(3), desc="work")) == [0, 1, 2]
    assert log.getvalue() == ""  # no \r redraws in a CI log


def test_progress_is_on_at_a_terminal_unless_switched_off(monkeypatch):
    monkeypatch.delenv("EAPBENCH_NO_PROGRESS", raising=False)
    term = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", term)
    assert progress_enabled()
    assert list(progress(range(3), desc="work")) == [0, 1, 2]
    assert "work" in term.getvalue()
    monkeypatch.setenv("EAPBENCH_NO_PROGRESS", "1")
    assert not progress_enabled()


def test_time_shows_progress_per_model(monkeypatch):
    def not_timed(*args, **kwargs):  # each timing is a child process: the bar is what is tested here
        raise RuntimeError("not timed in this test")

    monkeypatch.setattr(measure, "time", not_timed)
    monkeypatch.delenv("EAPBENCH_NO_PROGRESS", raising=False)
    term = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", term)
    args = ["time", "--models", "ref-frame,exposure-merge", "--device", "cpu", "--size", "32x32"]
    assert main([*args, "--no-store", "--no-roofline"]) == 1  # both records failed, as stubbed
    assert "time:" in term.getvalue() and "0/2" in term.getvalue()


# --- outputs into a data set being read --------------------------------------------------------


def digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    data = tmp_path_factory.mktemp("data") / "set"
    assert main(["make-data", str(data), "--synthetic", "1", "--size", "32x32"]) == 0
    assert (data / "0000_alignratio.npy").is_file()
    return data


def refused(capsys, argv: list[str], option: str) -> None:
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and option in err, err


def refusals(data: Path, link: Path, hdr: Path) -> list[tuple[list[str], str]]:
    ev = ["eval", "--models", "ref-frame", "--data", str(data)]
    tr = ["train", "--model", "eapnet-lightweight", "--data", str(data), "--iters", "1"]
    variant = f"{TINY_VARIANT}:tiny_hdr"
    return [
        ([*ev, "--save-predictions", str(data)], "--save-predictions"),  # would overwrite the GT's alignratio
        ([*ev, "--save-predictions", str(data / "preds")], "--save-predictions"),
        ([*ev, "--save-predictions", str(link)], "--save-predictions"),  # a symlink to the data set
        ([*ev, "--save-predictions", f"{data}/../{data.name}"], "--save-predictions"),
        ([*ev, "--json", str(data / "eval.json")], "--json"),
        ([*ev, "--csv", str(data / "scores.csv")], "--csv"),
        ([*tr, "--out", str(data / "run")], "--out"),
        ([*tr, "--out", str(data.parent / "run-ok"), "--json", str(data / "t.json")], "--json"),
        (["make-data", str(hdr / "out"), "--from-hdr", str(hdr)], "OUT"),
        (["compare", "--variant", variant, "--data", str(data), "--out", str(data / "cmp")], "--out"),
        (["compare", "--variant", variant, "--data", str(data), "--json", str(data / "c.json")], "--json"),
        (["all", "--data", str(data), "--out", str(data / "report")], "--out"),
        (
            ["all", "--data", str(data), "--out", str(data.parent / "rep"), "--json", str(data / "a.json")],
            "--json",
        ),
    ]


def test_outputs_into_the_data_set_are_refused_before_any_work(dataset, tmp_path, capsys):
    link = tmp_path / "link"
    link.symlink_to(dataset, target_is_directory=True)
    hdr = tmp_path / "hdr"
    hdr.mkdir()
    (hdr / "scene.hdr").write_bytes(b"#?RADIANCE\n")  # never read: the check comes first
    before, hdr_before = digest(dataset), digest(hdr)
    for argv, option in refusals(dataset, link, hdr):
        refused(capsys, argv, option)
        assert digest(dataset) == before, argv
        assert digest(hdr) == hdr_before, argv
    assert not Path(os.environ["EAPBENCH_DB"]).exists()  # no command got as far as its results store
    assert not (tmp_path / "run-ok").exists() and not (dataset.parent / "rep").exists()


def test_json_to_a_folder_is_refused_before_any_work(tmp_path, capsys):
    folder = tmp_path / "folder"
    folder.mkdir()
    for argv in (
        ["list", "--json", str(folder)],
        ["list", "--json", f"{tmp_path / 'new'}/"],  # a trailing slash means a folder
        ["profile", "--models", "ref-frame", "--json", str(folder)],
        ["profile", "--models", "ref-frame", "--csv", f"{tmp_path / 'new'}/"],
    ):
        refused(capsys, argv, argv[-2])
    assert sorted(tmp_path.iterdir()) == [folder] and not any(folder.iterdir())
    assert not Path(os.environ["EAPBENCH_DB"]).exists()


def test_check_outside(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    for ok in (tmp_path / "data-out", tmp_path / "out" / "data", tmp_path):  # siblings and parents are fine
        check_outside(ok, data, "--out")
    check_outside(None, data, "--json")
    check_outside(data / "x.json", None, "--json")
    with pytest.raises(UsageError, match=r"--csv .*inside the data set being read \(--val-data "):
        check_outside(data / "a" / "b.csv", data, "--csv", "--val-data")
    with pytest.raises(UsageError, match="is a folder"):
        check_output_file(f"{tmp_path}/new/", "--json")
