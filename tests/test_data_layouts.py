"""Data layouts: a plugin layout written by make-data and scored by eval, detection, errors, the Sample record."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from bench import data
from bench.cli import main
from bench.data.layouts import LAYOUTS, Layout, Sample

REPO = Path(__file__).resolve().parents[1]
PLUGIN_LAYOUT = "scene-folders"

# A folder per scene: ldr_0.png ldr_1.png ldr_2.png (8-bit), ev.txt (3 stops), gt.npy (linear radiance).
PLUGIN = textwrap.dedent(
    """
    from pathlib import Path

    import cv2
    import numpy as np

    from bench.data.layouts import DatasetError, Layout, Sample, register_layout

    FILES = ("ldr_0.png", "ldr_1.png", "ldr_2.png", "ev.txt", "gt.npy")


    @register_layout
    class SceneFolders(Layout):
        name = "scene-folders"
        sample_hint = "scene folders (SCENE/ldr_0.png, SCENE/ev.txt, ...)"

        def detect(self, root):
            return any((d / "ev.txt").is_file() for d in root.iterdir())

        def find_samples(self, root):
            return sorted(d.name for d in root.iterdir() if (d / "ev.txt").is_file())

        def validate(self, root, ids, require_gt):
            problems = []
            for sid in ids:
                wanted = FILES if require_gt else FILES[:4]
                missing = [n for n in wanted if not (root / sid / n).is_file()]
                if missing:
                    problems.append(f"{sid}: missing {', '.join(missing)}")
            return problems

        def load(self, root, sid):
            d = root / sid
            frames = []
            for n in range(3):
                img = cv2.imread(str(d / f"ldr_{n}.png"))
                if img is None:
                    raise DatasetError(f"{d / f'ldr_{n}.png'}: cannot decode")
                frames.append(img[..., ::-1])
            gt = np.load(d / "gt.npy") if (d / "gt.npy").is_file() else None
            return Sample(sid, np.stack(frames).astype(np.float32) / 255.0, np.loadtxt(d / "ev.txt"), gt, "linear")

        def write(self, root, sid, sample):
            d = root / sid
            d.mkdir(exist_ok=True)
            for n, frame in enumerate(sample.ldrs):
                cv2.imwrite(str(d / f"ldr_{n}.png"), np.round(frame * 255).astype(np.uint8)[..., ::-1])
            np.savetxt(d / "ev.txt", sample.exposures)
            linear = sample.gt ** sample.gamma if sample.gt_encoding == "gamma" else sample.gt
            np.save(d / "gt.npy", linear.astype(np.float32))

        def member_files(self, root, sid):
            return [root / sid / n for n in FILES]
    """
)


@pytest.fixture
def plugin(tmp_path):
    path = tmp_path / "scene_folders_plugin.py"
    path.write_text(PLUGIN)
    yield str(path)
    LAYOUTS.remove(PLUGIN_LAYOUT)  # registries are process-global


def make(plugin: str, out: Path, *extra: str) -> int:
    args = ["--plugin", plugin, "make-data", str(out), "--synthetic", "2", "--size", "32x32", "--seed", "3"]
    return main([*args, *extra])


def eval_json(plugin: str, data_dir: Path, out: Path, *extra: str) -> list[dict]:
    args = ["--plugin", plugin, "eval", "--models", "ref-frame", "--data", str(data_dir)]
    assert main([*args, *extra, "--no-store", "--json", str(out)]) == 0
    return json.loads(out.read_text())


def test_plugin_layout_written_by_make_data_and_scored_by_eval(plugin, tmp_path):
    scenes, ntire = tmp_path / "scenes", tmp_path / "ntire"
    assert make(plugin, scenes, "--layout", PLUGIN_LAYOUT) == 0
    assert sorted(p.name for p in scenes.iterdir()) == ["0000", "0001", "manifest.json"]
    assert sorted(p.name for p in (scenes / "0001").iterdir()) == sorted(
        ["ldr_0.png", "ldr_1.png", "ldr_2.png", "ev.txt", "gt.npy"]
    )
    assert json.loads((scenes / "manifest.json").read_text())["format"] == PLUGIN_LAYOUT
    assert make(plugin, ntire) == 0  # the same scenes in the default NTIRE layout

    forced = eval_json(plugin, scenes, tmp_path / "forced.json", "--layout", PLUGIN_LAYOUT)
    detected = eval_json(plugin, scenes, tmp_path / "detected.json")
    reference = eval_json(plugin, ntire, tmp_path / "ntire.json")
    assert forced[0]["n_images"] == 2 and forced[0]["n_failed"] == 0
    assert [im["id"] for im in forced[0]["per_image"]] == ["0000", "0001"]
    assert forced[0]["psnr"] == detected[0]["psnr"]
    # linear float GT vs NTIRE's 16-bit gamma PNG: the same scenes score (almost) the same
    assert forced[0]["psnr"] == pytest.approx(reference[0]["psnr"], abs=0.05)
    assert forced[0]["psnr_mu"] == pytest.approx(reference[0]["psnr_mu"], abs=0.05)


def test_make_data_refuses_then_replaces_a_plugin_data_set(plugin, tmp_path, capsys):
    out = tmp_path / "scenes"
    assert make(plugin, out, "--layout", PLUGIN_LAYOUT) == 0
    assert make(plugin, out, "--layout", PLUGIN_LAYOUT) == 2
    assert "already holds a data set (0000/ev.txt, ...)" in capsys.readouterr().err
    (out / "0001" / "ldr_2.png").unlink()
    assert make(plugin, out, "--layout", PLUGIN_LAYOUT, "--force") == 0
    assert (out / "0001" / "ldr_2.png").is_file()


def test_detection_and_layout_errors(plugin, tmp_path, capsys):
    scenes, ntire, empty = tmp_path / "scenes", tmp_path / "ntire", tmp_path / "empty"
    make(plugin, scenes, "--layout", PLUGIN_LAYOUT)
    make(plugin, ntire)
    empty.mkdir()
    assert data.open_layout(scenes).name == PLUGIN_LAYOUT
    assert data.open_layout(ntire).name == "ntire"
    assert [la.name for la in data.detect_layouts(scenes)] == [PLUGIN_LAYOUT]
    capsys.readouterr()

    # a folder that no layout recognises: one line, exit 2, naming the layouts
    args = ["--plugin", plugin, "eval", "--models", "ref-frame", "--data", str(empty), "--no-store"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "holds no NTIRE samples" in err and "scene folders" in err
    # every registered layout is named (store: prepare-data's, registered when training code is imported)
    listed = err.rsplit("--layout (", 1)[1].split(")")[0].split(", ")
    assert listed[:4] == ["ntire", "kalantari", "hu", "tel"] and PLUGIN_LAYOUT in listed
    # eval reads through the layout it is told, not the detected one
    forced = ["--plugin", plugin, "eval", "--models", "ref-frame", "--data", str(scenes), "--layout", "ntire"]
    assert main([*forced, "--no-store"]) == 2
    assert "holds no NTIRE samples" in capsys.readouterr().err

    # both layouts' files in one folder: a name is needed
    for p in ntire.glob("0*_*"):
        os.link(p, scenes / p.name)
    with pytest.raises(data.DatasetError, match="matches several data layouts"):
        data.scan_dataset(scenes)
    assert data.scan_dataset(scenes, layout=PLUGIN_LAYOUT) == ["0000", "0001"]
    assert data.scan_dataset(scenes, layout="ntire") == ["0000", "0001"]
    assert data.dataset_fingerprint(scenes, layout="ntire") == data.dataset_fingerprint(ntire)
    assert data.dataset_fingerprint(scenes, layout=PLUGIN_LAYOUT) != data.dataset_fingerprint(ntire)

    with pytest.raises(SystemExit) as exc:  # argparse: --layout choices come from the registry
        main(["eval", "--models", "ref-frame", "--data", str(ntire), "--layout", "nope"])
    assert exc.value.code == 2


def test_all_problems_of_a_plugin_layout_in_one_message(plugin, tmp_path):
    scenes = tmp_path / "scenes"
    make(plugin, scenes, "--layout", PLUGIN_LAYOUT)
    (scenes / "0000" / "ldr_1.png").unlink()
    (scenes / "0001" / "gt.npy").unlink()
    assert data.scan_dataset(scenes, ids=["0001"]) == ["0001"]  # GT not required
    with pytest.raises(data.DatasetError) as exc:
        data.NTIREDataset(scenes, require_gt=True)
    msg = str(exc.value)
    assert "2 problem(s) in 2 sample(s)" in msg
    assert "0000: missing ldr_1.png" in msg and "0001: missing gt.npy" in msg


def test_plugin_fingerprint_uses_relative_paths(plugin, tmp_path):
    scenes = tmp_path / "scenes"
    make(plugin, scenes, "--layout", PLUGIN_LAYOUT)
    both = data.dataset_fingerprint(scenes)
    assert both == data.dataset_fingerprint(scenes, ["0001", "0000"])
    assert both != data.dataset_fingerprint(scenes, ["0000"])
    # the same file names in both scene folders: touching one scene's file must still show
    first = data.dataset_fingerprint(scenes, ["0000"])
    st = os.stat(scenes / "0001" / "ev.txt")
    os.utime(scenes / "0001" / "ev.txt", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert data.dataset_fingerprint(scenes) != both
    assert data.dataset_fingerprint(scenes, ["0000"]) == first


def test_sample_record_conventions():
    rng = np.random.default_rng(0)
    gamma_gt = rng.uniform(0, 2, (4, 6, 3)).astype(np.float32)
    linear = Sample(
        "a", np.zeros((3, 4, 6, 3), np.float32), np.array([-3.0, -1.0, 1.0]), gamma_gt**2.24, "linear"
    )
    assert linear.size == (6, 4)
    assert linear.ev.tolist() == [-2.0, 0.0, 2.0] and linear.ev.dtype == np.float32
    assert np.allclose(linear.gamma_gt(), gamma_gt, atol=1e-5)
    stored = Sample("b", linear.ldrs, linear.exposures, gamma_gt)
    assert stored.gamma_gt() is gamma_gt  # NTIRE's convention: returned as stored
    window = stored.crop(slice(1, 3), slice(2, 5))
    assert window.ldrs.shape == (3, 2, 3, 3) and window.size == (3, 2)
    assert np.array_equal(window.gt, gamma_gt[1:3, 2:5])
    assert Sample("c", linear.ldrs, linear.exposures).gamma_gt() is None


def test_a_layout_must_implement_the_interface():
    class Incomplete(Layout):
        name = "incomplete"

    with pytest.raises(TypeError):
        Incomplete()


def test_run_bench_with_the_plugin_in_a_subprocess(plugin, tmp_path):
    # the real entry point, with the plugin given before the command (as the README shows)
    out, report = tmp_path / "scenes", tmp_path / "out.json"
    env = {**os.environ, "PYTHONPATH": str(REPO), "EAPBENCH_NO_PROGRESS": "1"}
    base = [sys.executable, str(REPO / "run_bench.py"), "--plugin", plugin]
    assert make(plugin, out, "--layout", PLUGIN_LAYOUT) == 0  # in-process: one interpreter start is enough
    eval_args = ["eval", "--models", "ref-frame", "--data", str(out), "--layout", PLUGIN_LAYOUT, "--no-store"]
    done = subprocess.run([*base, *eval_args, "--json", str(report)], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert json.loads(report.read_text())[0]["n_images"] == 2


def test_patch_dataset_reads_a_plugin_layout(plugin, tmp_path):
    scenes = tmp_path / "scenes"
    make(plugin, scenes, "--layout", PLUGIN_LAYOUT)
    patches = data.PatchDataset(scenes, patch=16, stride=16)
    assert patches.layout.name == PLUGIN_LAYOUT and len(patches) == 2 * 4
    item = patches[7]  # scene 0001, window (16, 16)
    assert item["pos"] == (16, 16) and item["ldrs"].shape == (3, 3, 16, 16)
    linear = np.load(scenes / "0001" / "gt.npy")[16:32, 16:32]
    assert np.allclose(item["gt"].permute(1, 2, 0).numpy(), linear ** (1 / 2.24), atol=1e-5)


@pytest.mark.parametrize("exposures, dtype", [((-3, -1, 1), np.int64), ((-2.5, 0, 2), np.float64)])
def test_ntire_layout_write_then_load(tmp_path, exposures, dtype):
    rng = np.random.default_rng(1)
    ldrs = rng.integers(0, 256, (3, 10, 12, 3)).astype(np.float32) / 255.0
    gt = rng.uniform(0, 1.5, (10, 12, 3)).astype(np.float32)
    layout = data.LAYOUTS.get("ntire")
    layout.write(tmp_path, "0007", Sample("0007", ldrs, np.array(exposures, dtype=np.float64), gt))
    assert data.open_layout(tmp_path) is layout and data.scan_dataset(tmp_path, require_gt=True) == ["0007"]
    assert np.load(tmp_path / "0007_exposures.npy").dtype == dtype
    back = layout.load(tmp_path, "0007")
    assert np.array_equal(back.ldrs, ldrs)
    assert np.array_equal(back.gt, data.hdrio.roundtrip16(gt)) and back.gt_encoding == "gamma"
    assert back.exposures.tolist() == list(exposures) and layout.sample_size(tmp_path, "0007") == (12, 10)
