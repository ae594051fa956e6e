"""The demo in CI size: the real enhanced ResNet50 on real embedded beats, end to end."""

import json
import subprocess
import sys

import pytest

from ecgkit.contract import PROJECT_ROOT


class TestDemo:
    def test_ci_sized_demo(self, tmp_path):
        from ecgkit.demo import CI, run_demo

        summary = run_demo(tmp_path, CI, progress=False)
        for name in ("enhanced_resnet50.keras", "confusion_matrix.png", "training_history.png",
                     "metrics.json", "evaluation/metrics.json", "evaluation/literature.csv",
                     "train/run.json"):
            assert (tmp_path / name).is_file(), name
        data = json.loads((tmp_path / "metrics.json").read_text())
        t = data["test"]
        for key in ("accuracy", "macro_precision", "macro_recall", "macro_f1",
                    "macro_specificity"):
            assert 0.0 <= t[key] <= 1.0, key
        assert set(t["per_class"]) == set("NSVFQ")
        assert data["settings"]["image_size"] == 64
        assert data["hardware"]["strategy"]
        # the capped test beats carry cap weights: the confusion holds weighted counts
        assert summary["test"]["n_weighted"] == pytest.approx(sum(map(sum, t["confusion"])))
        assert summary["test"]["n"] < summary["test"]["n_weighted"]
        ours = data["literature"][0]
        assert ours["kind"] == "this run" and "subset of DS2" in ours["note"]

    def test_top_level_script_help(self):
        out = subprocess.run([sys.executable, str(PROJECT_ROOT / "enhanced_resnet50_demo.py"),
                              "--help"], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0
        assert "--ci" in out.stdout and "--epochs" in out.stdout
