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
        assert summary["test"]["n"] == sum(map(sum, t["confusion"]))
        ours = data["literature"][0]
        # data/mitdb has every DS2 record, so none is missing; paced 217 is left out of the row
        assert ours["kind"] == "this run" and "subset of DS2" not in ours["note"]
        assert "paced records excluded: 217" in ours["note"]
        assert len(data["data"]["test"]["records"]) == 23  # DS2 + 217 (104 has no MLII: skipped)

    def test_top_level_script_help(self):
        out = subprocess.run([sys.executable, str(PROJECT_ROOT / "enhanced_resnet50_demo.py"),
                              "--help"], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0
        assert "--ci" in out.stdout and "--epochs" in out.stdout
