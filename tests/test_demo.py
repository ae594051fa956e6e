"""The demo in CI size: the real enhanced ResNet50 on real embedded beats, end to end."""

import json
import subprocess
import sys

import pytest

from ecgkit.contract import PROJECT_ROOT


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """One CI-sized demo run: (its folder, the summary it returned)."""
    from ecgkit.workbook.demo import CI, run_demo

    out = tmp_path_factory.mktemp("demo")
    return out, run_demo(out, CI, progress=False)


class TestDemo:
    def test_ci_sized_demo(self, demo):
        tmp_path, summary = demo
        for name in ("enhanced_resnet50.keras", "confusion_matrix.png", "training_history.png",
                     "baselines.csv", "metrics.json", "evaluation/metrics.json",
                     "evaluation/literature.csv", "train/run.json"):
            assert (tmp_path / name).is_file(), name
        data = json.loads((tmp_path / "metrics.json").read_text())
        t = data["test"]
        for key in ("accuracy", "macro_precision", "macro_recall", "macro_f1",
                    "macro_specificity"):
            assert 0.0 <= t[key] <= 1.0, key
        assert set(t["per_class"]) == set("NSVFQ")
        assert data["params"]["IMAGE_SIZE"] == 64  # the demo profile with the CI overrides
        assert data["hardware"]["strategy"] and data["command"] == "ecgkit.run_demo"
        # the capped test beats carry cap weights: the confusion holds weighted counts
        assert summary["test"]["n_weighted"] == pytest.approx(sum(map(sum, t["confusion"])))
        assert summary["test"]["n"] < summary["test"]["n_weighted"]
        ours = data["literature"][0]
        # data/mitdb has every DS2 record, so none is missing from the row
        assert ours["kind"] == "this run" and "subset of DS2" not in ours["note"]
        assert len(data["data"]["test"]["records"]) == 22  # DS2 (strict: paced records out)
        # trained and evaluated under one protocol and one rendering
        trained = json.loads((tmp_path / "train" / "run.json").read_text())["params"]
        assert trained["SPLIT"] == data["params"]["SPLIT"] == "inter-patient-strict"
        assert trained["GRID"] is data["params"]["GRID"] is False

    def test_ci_sized_demo_puts_the_baselines_beside_the_network(self, demo):
        tmp_path, data = demo
        table = data["baselines"]["table"]
        assert set(table) == {"network", "always_n", "nearest_neighbour", "rr_logistic_regression",
                              "gradient_boosted_trees"}
        assert table["always_n"]["N_Se"] == 1.0 and table["always_n"]["S_Se"] == 0.0
        assert len({row["n_weighted"] for row in table.values()}) == 1  # the same test beats
        assert table["network"]["n_weighted"] <= data["test"]["n_weighted"]  # Q beats left out
        net, always_n = table["network"]["macro_f1"], table["always_n"]["macro_f1"]
        assert data["beats_always_n"] is (net > always_n)
        assert data["predicts_every_class_present"] is (not data["coverage"]["never_predicted"])
        text = data["verdict"]
        assert (f"macro-F1 over N/S/V/F is {net:.3f}" in text
                and f"always-N ({always_n:.3f})" in text)
        assert ("predicts every class present" in text) is data["predicts_every_class_present"]
        csv = (tmp_path / "baselines.csv").read_text().splitlines()
        assert csv[0].startswith("model,N_Se") and len(csv) == 6

    def test_top_level_script_help(self):
        out = subprocess.run([sys.executable, str(PROJECT_ROOT / "enhanced_resnet50_demo.py"),
                              "--help"], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0
        assert "--ci" in out.stdout and "--epochs" in out.stdout


class TestDemoProfile:
    def test_the_demo_is_a_profile(self):
        from ecgkit.params import load_profile
        from ecgkit.workbook.demo import CI, demo_params

        profile = load_profile("demo")
        p = demo_params()
        assert all(p[name] == value for name, value in profile.items())
        assert p["IMAGE_SIZE"] == 64 and p["BN_MOMENTUM"] == 0.0
        small = demo_params(CI)
        assert small["IMAGE_SIZE"] == 64 and small["SPLIT"] == p["SPLIT"]
