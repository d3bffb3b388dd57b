"""eapbench installed from its wheel, outside a checkout: package data found, nothing written into it.

The wheel is built from a copy of the sources (so the build leaves nothing in the checkout) and
installed non-editable with ``pip install --target``; its commands then run from an empty folder
with only that target on ``PYTHONPATH`` (the suite's dependencies come from the running venv). The
checkout must not be importable there: every run checks where ``bench`` was imported from.
Also here: unit tests of ``bench.core.paths`` (where things are read and written).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from bench import roofline
from bench.core import environment, paths
from bench.results import ResultsStore

CHECKOUT = Path(__file__).resolve().parent.parent
SOURCES = ("pyproject.toml", "README.md", "run_bench.py", "bench", "models")


@dataclass(frozen=True)
class Installed:
    site: Path  # the pip --target folder holding bench/, models/, run_bench.py, bin/eapbench
    cwd: Path  # an empty folder the commands run from
    cache: Path  # $EAPBENCH_CACHE of the runs
    env: dict[str, str]
    files: frozenset[tuple[str, int, int]]  # (path, size, mtime_ns) of every file in site after install


def site_files(site: Path) -> frozenset[tuple[str, int, int]]:
    return frozenset((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in site.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Installed:
    root = tmp_path_factory.mktemp("install")
    src = root / "src"
    src.mkdir()
    for name in SOURCES:
        path = CHECKOUT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(path, src / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", "-q"]
    subprocess.run(
        [*pip, "wheel", str(src), "--no-deps", "--no-build-isolation", "-w", str(root / "dist")],
        check=True,
        cwd=src,
        timeout=300,
    )
    (wheel,) = (root / "dist").glob("eapbench-*.whl")
    site = root / "site"
    subprocess.run([*pip, "install", "--no-deps", "--target", str(site), str(wheel)], check=True, timeout=300)
    cwd, cache = root / "work", root / "cache"
    cwd.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "EAPBENCH_DB", "EAPBENCH_PLUGINS")}
    env |= {
        "PYTHONPATH": str(site),
        "EAPBENCH_CACHE": str(cache),
        "EAPBENCH_NO_PROGRESS": "1",
        "PYTHONDONTWRITEBYTECODE": "1",  # the interpreter's own .pyc caches are not the suite writing
    }
    return Installed(site, cwd, cache, env, site_files(site))


def run(inst: Installed, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """``args`` with the installed suite, from its empty folder; fails the test on a non-zero exit."""
    proc = subprocess.run(
        [sys.executable, *args], cwd=inst.cwd, env=inst.env, capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def eapbench(inst: Installed, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """The ``eapbench`` console script pip wrote (run with this interpreter: no shebang limits)."""
    return run(inst, str(inst.site / "bin" / "eapbench"), *args, timeout=timeout)


def assert_site_untouched(inst: Installed) -> None:
    assert site_files(inst.site) == inst.files, "a command wrote into the installed packages"


@pytest.mark.slow
def test_wheel_imports_from_its_target_and_lists_models(installed):
    where = run(
        installed,
        "-c",
        "import bench, models, run_bench; from run_bench import main; "
        "from bench.core import paths; "
        "print(bench.__file__); print(models.__file__); print(run_bench.__file__); print(paths.CHECKOUT_ROOT)",
    ).stdout.split()
    assert all(Path(p).is_relative_to(installed.site) for p in where[:3]), where
    assert where[3] == "None"  # the installed package does not take site-packages for a checkout
    dist_info = next(installed.site.glob("eapbench-*.dist-info"))
    assert "eapbench = run_bench:main" in (dist_info / "entry_points.txt").read_text()
    shipped = installed.site / "bench" / "weights" / "eapnet-lightweight.safetensors"
    assert shipped.is_file() and (shipped.parent / "eapnet-lightweight.md").is_file()

    listing = eapbench(installed, "list").stdout
    assert "eapnet-lightweight" in listing and "ref-frame" in listing
    assert_site_untouched(installed)


@pytest.mark.slow
def test_quick_main_job_writes_under_the_current_folder(installed):
    summary = installed.cwd / "summary.json"
    models = "eapnet-lightweight,ref-frame"  # one trained model (shipped weights) and one reference
    out = eapbench(installed, "--quick", "--models", models, "--no-plots", "--json", summary.name).stdout
    assert "eapnet-lightweight" in out
    out_dir = installed.cwd / "eapbench-out"
    assert (out_dir / "index.md").is_file() and (out_dir / "table1.md").is_file()
    db = out_dir / "results.sqlite"
    assert json.loads(summary.read_text())["settings"]["db"] == "eapbench-out/results.sqlite"
    with ResultsStore(db) as store:
        (evaluated,) = store.query(kind="eval", model="eapnet-lightweight")
    weights = Path(evaluated["record"]["weights"])
    assert weights.resolve() == (installed.site / "bench" / "weights" / weights.name).resolve()
    assert evaluated["record"]["psnr"] is not None
    assert evaluated["environment"]["git_revision"] is None  # not a checkout: no revision, no error
    assert_site_untouched(installed)


@pytest.mark.slow
def test_calibrate_writes_to_the_user_cache(installed):
    eapbench(installed, "calibrate", "--copy-mib", "4", "--matmul-n", "64", "--repeat", "1", "--threads", "1")
    (written,) = (installed.cache / "calibration").glob("*.json")
    assert json.loads(written.read_text())["bandwidth_Bps"] > 0
    assert_site_untouched(installed)


# ---------------------------------------------------------------------------------------------
# bench.core.paths, in-process
# ---------------------------------------------------------------------------------------------


def test_checkout_is_found_only_beside_pyproject_and_run_bench(tmp_path):
    package = tmp_path / "bench"
    package.mkdir()
    assert paths.find_checkout(package) is None  # e.g. site-packages
    (tmp_path / "pyproject.toml").write_text("")
    assert paths.find_checkout(package) is None
    (tmp_path / "run_bench.py").write_text("")
    assert paths.find_checkout(package) == tmp_path
    assert paths.CHECKOUT_ROOT == CHECKOUT and paths.REPORTS_DIR == CHECKOUT / "reports"


def test_user_cache_dir_precedence(tmp_path, monkeypatch):
    monkeypatch.delenv("EAPBENCH_CACHE", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert paths.user_cache_dir() == tmp_path / "home" / ".cache" / "eapbench"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert paths.user_cache_dir() == tmp_path / "xdg" / "eapbench"
    monkeypatch.setenv("EAPBENCH_CACHE", str(tmp_path / "mine"))
    assert paths.user_cache_dir() == tmp_path / "mine"


def test_shipped_data_is_inside_the_package():
    for path in (paths.WEIGHTS_DIR, paths.PAPER_TABLES_CSV, paths.SHIPPED_CALIBRATION_DIR):
        assert path.exists() and path.is_relative_to(paths.PACKAGE_DIR), path
    assert not paths.CALIBRATION_CACHE_DIR.is_relative_to(paths.PACKAGE_DIR)


def test_user_calibration_wins_and_shipped_one_is_the_fallback(tmp_path, monkeypatch):
    # A shipped file for THIS machine (the committed one is keyed to the CI machine's CPU flags and
    # speed, which a test must not depend on), in a stand-in for the package's calibration folder.
    from bench.roofline.machine import machine_key

    committed = json.loads(next(paths.SHIPPED_CALIBRATION_DIR.glob("*.json")).read_text())
    shipped = committed | {"machine": machine_key("cpu")}
    shipped_dir = tmp_path / "shipped"
    shipped_dir.mkdir()
    (shipped_dir / roofline.calibration_path(shipped["device_name"]).name).write_text(json.dumps(shipped))
    monkeypatch.setattr(roofline.calibration, "SHIPPED_CALIBRATION_DIR", shipped_dir)
    monkeypatch.setattr(roofline.calibration, "CALIBRATION_DIR", tmp_path)
    assert roofline.load_calibration(shipped["device_name"]) == shipped
    mine = shipped | {"bandwidth_Bps": shipped["bandwidth_Bps"] * 2}
    assert roofline.save_calibration(mine).parent == tmp_path
    assert roofline.load_calibration(shipped["device_name"]) == mine
    # An explicit folder is read alone: no fallback.
    assert roofline.load_calibration(shipped["device_name"], tmp_path / "empty") is None


def test_no_git_revision_outside_a_checkout(monkeypatch):
    monkeypatch.setattr(environment, "CHECKOUT_ROOT", None)
    assert environment.git_state() == (None, None) and environment.git_revision() is None
