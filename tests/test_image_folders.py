"""Your own labelled ECG images: reading any image, folders and labels CSVs, splits by patient,
the duplicate audit, and the commands end to end (train, evaluate, predict) as a new user runs
them on a folder of synthetic 12-lead pages."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from ecgkit.data.folders import (
    MAX_HASH_DISTANCE,
    LabelsError,
    check_groups_apart,
    near_duplicates,
    read_labelled_images,
    split_images,
)
from ecgkit.data.images import (
    ImageError,
    ImageFolderError,
    decode_image,
    fit_image,
    read_image,
    tile_boxes,
)

PAGE_W, PAGE_H = 132, 102  # 11 x 8.5 in at 12 px per inch


def page(cls: int, patient: int, k: int, w: int = PAGE_W, h: int = PAGE_H) -> np.ndarray:
    """A synthetic 12-lead page (RGB): pink grid, 3 x 4 leads and a rhythm strip; the class
    sets the beat rate, width and polarity, the patient and ``k`` the amplitudes and phase."""
    rng = np.random.default_rng([cls, patient, k])
    img = np.full((h, w, 3), (250, 245, 245), np.uint8)
    for x in range(0, w, 6):
        cv2.line(img, (x, 0), (x, h), (235, 200, 200), 1)
    for y in range(0, h, 6):
        cv2.line(img, (0, y), (w, y), (235, 200, 200), 1)
    rate = 2 + 1.5 * cls + rng.uniform(-0.2, 0.2)
    for r in range(4):
        for c in range(3 if r < 3 else 1):
            x0, x1 = c * w // 3 + 2, ((c + 1) * w // 3 if r < 3 else w) - 2
            t = np.linspace(0, 1, x1 - x0)
            amp = rng.uniform(4, 9) * (1 + 0.3 * ((r * 3 + c) % 4))
            s = np.exp(-(((t * rate + rng.uniform()) % 1 - 0.5) ** 2) / (0.002 * (1 + cls)))
            s = s * amp * (1 if cls % 2 == 0 else -1) + rng.normal(0, 0.5, t.size)
            y0 = (r + 0.5) * h / 4
            pts = np.stack([x0 + np.arange(t.size), y0 - s], 1).astype(np.int32)
            cv2.polylines(img, [pts], False, (20, 20, 20), 1, cv2.LINE_AA)
    return img


def save(path: Path, rgb: np.ndarray, **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(path, **kwargs)
    return path


def labelled_pages(root: Path, classes=("AF", "MI", "NORM", "STTC", "HYP"), patients=10,
                   per_patient=2) -> Path:
    """``root`` with PNG pages and labels.csv (file, label, patient): each patient has one
    class and ``per_patient`` pages."""
    rows = ["file,label,patient"]
    for p in range(patients * len(classes)):
        cls = p % len(classes)
        for k in range(per_patient):
            name = f"pages/p{p:03d}_{k}.png"
            save(root / name, page(cls, p, k))
            rows.append(f"{name},{classes[cls]},P{p:03d}")
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    return root


class TestReadAnyImage:
    def test_each_format_and_mode_reads_as_rgb(self, tmp_path):
        rgb = page(1, 1, 0)
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        files = {
            "png": save(tmp_path / "a.png", rgb),
            "jpeg": save(tmp_path / "a.jpg", rgb, quality=95),
            "gray": save(tmp_path / "g.png", gray),
            "palette": tmp_path / "p.png",
        }
        Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE).save(files["palette"])
        for name, f in files.items():
            img = decode_image(f)
            assert img.dtype == np.uint8 and img.shape == (PAGE_H, PAGE_W, 3), name
            tolerance = 40 if name in ("jpeg", "palette") else 1
            want = np.dstack([gray] * 3) if name == "gray" else rgb
            assert np.abs(img.astype(int) - want).mean() < tolerance, name

    def test_rgba_transparent_background_is_white_not_black(self, tmp_path):
        rgba = np.zeros((40, 60, 4), np.uint8)  # transparent black everywhere...
        rgba[18:22, :, :3] = 10
        rgba[18:22, :, 3] = 255  # ...but an opaque dark trace
        img = decode_image(save(tmp_path / "t.png", rgba))
        assert img[0, 0].tolist() == [255, 255, 255]
        assert img[20, 30].tolist() == [10, 10, 10]

    def test_exif_rotated_jpeg_is_read_upright(self, tmp_path):
        rgb = page(0, 2, 0)  # landscape page, dark trace at the top-left lead
        stored = np.ascontiguousarray(np.rot90(rgb, k=-1))  # camera held sideways: portrait
        exif = Image.Exif()
        exif[0x0112] = 8  # "rotate 90 degrees counter-clockwise to view"
        f = save(tmp_path / "photo.jpg", stored, quality=95, exif=exif.tobytes())
        img = decode_image(f)
        assert img.shape[:2] == (PAGE_H, PAGE_W)  # upright: landscape again
        assert np.abs(img.astype(int) - rgb).mean() < 12

    def test_pad_keeps_the_aspect(self, tmp_path):
        img = np.full((50, 200, 3), 255, np.uint8)
        img[:, 95:105] = 0  # a vertical bar, 5% of the width
        out = fit_image(img, 64, "pad")
        assert out.shape == (64, 64, 3)
        rows = np.flatnonzero(out[:, :, 0].min(axis=1) < 128)
        cols = np.flatnonzero(out[:, :, 0].min(axis=0) < 128)
        assert 14 <= len(rows) <= 18  # 50 rows scaled by 64/200: 16, not stretched to 64
        assert len(cols) <= 5  # the bar stays 5% wide
        assert out[0, 0].tolist() == [255, 255, 255]  # padded with the border colour
        squashed = fit_image(img, 64, "squash")
        assert (squashed[:, :, 0].min(axis=1) < 128).sum() == 64

    def test_tiles_cover_a_strip(self):
        assert tile_boxes(100, 100) == [(0, 0, 100)]
        boxes = tile_boxes(100, 350)
        assert [b[1] for b in boxes] == [0, 83, 167, 250] and {b[2] for b in boxes} == {100}
        strip = np.zeros((100, 350, 3), np.uint8)
        strip[:, 300:] = 255
        last = fit_image(strip, 32, "tile", tile=3)
        assert last.shape == (32, 32, 3) and last[:, -5:].min() == 255

    def test_too_small_and_unreadable_are_named(self, tmp_path):
        small = save(tmp_path / "thumb.png", page(0, 0, 0, w=30, h=20))
        with pytest.raises(ImageError, match=r"thumb\.png: too small to classify: 30 x 20"):
            read_image(small, 32, fit="pad", min_side=32)
        bad = tmp_path / "broken.png"
        bad.write_bytes(b"\x89PNG not really")
        with pytest.raises(ImageError, match=r"broken\.png: not a readable image"):
            decode_image(bad)


    def test_a_page_passes_the_size_check_and_a_huge_one_is_refused_from_its_header(
            self, tmp_path):
        sheet = save(tmp_path / "sheet.png", np.full((850, 1100, 3), 250, np.uint8))
        assert decode_image(sheet).shape == (850, 1100, 3)  # a 12-lead page at 100 dpi
        assert read_image(sheet, 32, fit="pad").shape == (32, 32, 3)
        wide = save(tmp_path / "wide.jpg", np.full((100, 5000, 3), 250, np.uint8))
        with pytest.raises(ImageError, match=r"wide\.jpg: 5000 x 100 pixels, outside"):
            decode_image(wide)


class TestLabelledFolders:
    def test_class_subfolders(self, tmp_path):
        for cls, name in enumerate(("afib", "normal")):
            for k in range(3):
                save(tmp_path / name / f"{k}.png", page(cls, k, 0))
        (tmp_path / "normal" / "notes.txt").write_text("ignored")
        images = read_labelled_images(tmp_path)
        assert images.classes == ("afib", "normal")
        assert images.class_counts() == {"afib": 3, "normal": 3}
        assert images.groups is None and images.sizes.tolist()[0] == [PAGE_W, PAGE_H]

    def test_empty_class_folder_is_named(self, tmp_path):
        save(tmp_path / "a" / "1.png", page(0, 0, 0))
        (tmp_path / "b").mkdir()
        with pytest.raises(ImageFolderError, match=r"b: empty class"):
            read_labelled_images(tmp_path)

    def test_csv_with_patient_column_is_read(self, tmp_path):
        root = labelled_pages(tmp_path, classes=("A", "B"), patients=2, per_patient=1)
        images = read_labelled_images(root)
        assert images.group_column == "patient"  # found without being named
        assert images.groups.tolist() == ["P000", "P001", "P002", "P003"]
        assert images.names[0] == "pages/p000_0.png"

    def test_csv_errors_name_the_row_or_column(self, tmp_path):
        root = labelled_pages(tmp_path, classes=("A", "B"), patients=2, per_patient=1)
        csv = root / "labels.csv"
        with pytest.raises(LabelsError, match="unknown column 'subject'.*file, label, patient"):
            read_labelled_images(root, group_column="subject")
        bad = tmp_path / "nolabel.csv"
        bad.write_text("file,class\npages/p000_0.png,A\n")
        with pytest.raises(LabelsError, match=r"nolabel\.csv: no column 'label'"):
            read_labelled_images(root, labels=bad)
        rows = csv.read_text().splitlines()
        empty = tmp_path / "empty.csv"
        empty.write_text("\n".join(rows[:2] + ["pages/p001_0.png,,P001"]) + "\n")
        with pytest.raises(LabelsError, match=r"row 3: empty label"):
            read_labelled_images(root, labels=empty)
        missing = tmp_path / "missing.csv"
        missing.write_text("\n".join(rows + ["pages/gone.png,A,P009"]) + "\n")
        with pytest.raises(ImageFolderError, match=r"gone\.png: file not found"):
            read_labelled_images(root, labels=missing)
        images = read_labelled_images(root, labels=missing, on_bad="skip")
        assert len(images) == 4 and images.bad[0][1] == "file not found"
        with pytest.raises(ImageFolderError, match=r"unknown label\(s\) 'B'.*N, S, V, F, Q"):
            read_labelled_images(root, classes=("N", "S", "V", "F", "Q", "A"))

    def test_unreadable_image_is_named(self, tmp_path):
        root = labelled_pages(tmp_path, classes=("A", "B"), patients=2, per_patient=1)
        (root / "pages" / "p001_0.png").write_bytes(b"truncated")
        with pytest.raises(ImageFolderError, match=r"p001_0\.png: not a readable image"):
            read_labelled_images(root)


class TestSplits:
    def test_groups_kept_apart_and_every_class_trained(self, tmp_path):
        root = labelled_pages(tmp_path, patients=6, per_patient=2)
        images = read_labelled_images(root)
        split = split_images(images, val_fraction=0.2, test_fraction=0.2, seed=3)
        assert split.method == "group"
        for group in set(images.groups):
            assert len(set(split.sides[images.groups == group])) == 1
        for side in ("train", "val", "test"):
            assert min(images.class_counts(split.rows(side)).values()) > 0

    def test_overlap_is_refused(self):
        with pytest.raises(ImageFolderError, match=r"1 group\(s\) on two sides.*P2: test, train"):
            check_groups_apart(["P1", "P2", "P2"], ["train", "train", "test"])

    def test_without_groups_stratified_with_a_warning(self, tmp_path):
        for cls in range(2):
            for k in range(10):
                save(tmp_path / f"c{cls}" / f"{k}.png", page(cls, k, 0))
        images = read_labelled_images(tmp_path)
        with pytest.warns(UserWarning, match="one patient may sit on both sides"):
            split = split_images(images, 0.25, 0.2)
        assert split.method == "stratified"
        assert images.class_counts(split.rows("test")) == {"c0": 2, "c1": 2}


class TestDuplicateAudit:
    def test_a_planted_near_copy_is_found_across_sides(self, tmp_path):
        root = labelled_pages(tmp_path, classes=("A", "B", "C"), patients=4, per_patient=1)
        original = page(1, 99, 0)  # a page of class B, of a patient not in the folder
        copy = cv2.resize(original[1:-1, 2:-2], (118, 90), interpolation=cv2.INTER_AREA)
        save(root / "pages" / "orig.png", original)
        save(root / "pages" / "copy.jpg", copy, quality=80)
        with open(root / "labels.csv", "a") as fh:
            fh.write("pages/orig.png,B,P100\npages/copy.jpg,B,P101\n")
        images = read_labelled_images(root)
        sides = np.where(np.isin(images.groups, ["P101"]), "test", "train")
        found = near_duplicates(images, sides)
        assert len(found) == 1
        assert {found["file_a"][0], found["file_b"][0]} == {"pages/copy.jpg", "pages/orig.png"}
        assert found["distance"].iloc[0] <= MAX_HASH_DISTANCE
        assert len(near_duplicates(images, np.where(sides == "test", "train", "train"))) == 0


class TestCommandsEndToEnd:
    def test_train_evaluate_predict_on_pages(self, tmp_path, capsys):
        from ecgkit.cli import main

        root = labelled_pages(tmp_path / "ecg_pages", patients=6, per_patient=2)
        run = tmp_path / "run"
        rc = main(["train", "--images", str(root), "--group-column", "patient", "--quiet",
                   "--run-dir", str(run), "--set", "IMAGE_SIZE=32", "EPOCHS=1",
                   "STEPS_PER_EPOCH=1", "BATCH_SIZE=4", "WEIGHTS=none", "BOOTSTRAP=10"])
        out = capsys.readouterr().out
        assert rc == 0, out
        assert "no group on two sides (checked)" in out
        info = json.loads((run / "run.json").read_text())
        sides = info["data"]["split"]["sides"]
        train_groups = set(sides["train"]["groups"])
        assert not train_groups & set(sides["test"]["groups"])
        assert info["data"]["split"]["groups_on_two_sides"] == []
        assert info["status"] == "finished"

        report = tmp_path / "report"
        rc = main(["evaluate", "--model", str(run / "model.keras"), "--images", str(root),
                   "--split", "test", "--out", str(report), "--quiet", "--set", "BOOTSTRAP=10"])
        out = capsys.readouterr().out
        assert rc == 0, out
        metrics = json.loads((report / "metrics.json").read_text())
        assert metrics["classes"] == ["AF", "HYP", "MI", "NORM", "STTC"]
        assert metrics["split"]["groups_seen_in_training"] == 0
        assert metrics["n"] == sides["test"]["images"]
        assert metrics["ci_unit"] == "patient"
        assert "majority" in metrics["baseline"]["name"]
        for name in ("confusion.png", "per_class.csv", "gradcam.png", "errors.csv"):
            assert (report / name).is_file(), name
        assert "f1_majority" in (report / "per_class.csv").read_text().splitlines()[0]

        pages = sorted((root / "pages").glob("*.png"))[:2]
        rc = main(["predict", "--model", str(run / "model.keras"), "--json",
                   *map(str, pages)])
        said = capsys.readouterr()
        answers = json.loads(said.out)
        assert rc == 0
        # a padding model expects pages of any size: nothing resized is said
        assert [a["resized_from"] for a in answers] == [None, None]
        assert "resized" not in said.err
        assert {a["class"] for a in answers} <= {"AF", "HYP", "MI", "NORM", "STTC"}
        assert set(answers[0]["probabilities"]) == {"AF", "HYP", "MI", "NORM", "STTC"}


class TestCommandOptions:
    def test_test_fraction_out_of_range_is_refused(self, tmp_path, capsys):
        from ecgkit.cli import main

        for bad in ("1.5", "0", "many"):
            assert main(["train", "--images", str(tmp_path), "--test-fraction", bad]) == 2
            assert "error: --test-fraction: must be " in capsys.readouterr().err

    def test_a_file_where_the_run_folder_goes_is_named_before_reading(self, tmp_path, capsys):
        from ecgkit.cli import main

        blocker = tmp_path / "run"
        blocker.write_text("not a folder")
        rc = main(["train", "--images", str(tmp_path / "no_such_folder"), "--run-dir",
                   str(blocker)])
        err = capsys.readouterr().err
        assert rc == 1 and str(blocker) in err and "no_such_folder" not in err


class TestFolderRunFolder:
    """``train --images`` shares train's run-folder rules: one configuration per folder."""

    def test_interrupted_run_resumes_only_with_the_same_settings(self, tmp_path):
        import keras

        from ecgkit.training.image_training import train_images
        from ecgkit.training.run_folder import RunFolderError

        class StopAfterFirstEpoch(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                raise KeyboardInterrupt

        root = labelled_pages(tmp_path / "pages", patients=6, per_patient=2)
        run = tmp_path / "run"
        tiny = {"IMAGE_SIZE": 32, "EPOCHS": 2, "STEPS_PER_EPOCH": 1, "BATCH_SIZE": 4,
                "WEIGHTS": "none", "LEARNING_RATE": 1e-3}
        with pytest.raises(KeyboardInterrupt):
            train_images(root, params=tiny, run_dir=run, progress=False, echo=None,
                         callbacks=[StopAfterFirstEpoch()])
        assert json.loads((run / "run.json").read_text())["status"] == "interrupted"
        before = (run / "run.json").read_bytes()
        with pytest.raises(RunFolderError, match=r"LEARNING_RATE 0.001 -> 0.05.*--restart"):
            train_images(root, params={**tiny, "LEARNING_RATE": 0.05}, run_dir=run,
                         progress=False, echo=None)
        assert (run / "run.json").read_bytes() == before  # nothing rewritten
        result = train_images(root, params=tiny, run_dir=run, progress=False, echo=None)
        assert result.info["resumed_after_epochs"] == 1 and result.info["status"] == "finished"

    def test_a_failure_after_fit_is_recorded(self, tmp_path, monkeypatch):
        """As ``train`` does: an error while saving the model leaves run.json ``failed`` with
        the error, not ``running``."""
        from ecgkit.training import image_training
        from ecgkit.training.image_training import train_images

        def broken_save(run, model, provenance):
            raise OSError("disk full")

        monkeypatch.setattr(image_training, "save_model", broken_save)
        root = labelled_pages(tmp_path / "pages", patients=6, per_patient=2)
        run = tmp_path / "run"
        tiny = {"IMAGE_SIZE": 32, "EPOCHS": 1, "STEPS_PER_EPOCH": 1, "BATCH_SIZE": 4,
                "WEIGHTS": "none"}
        with pytest.raises(OSError, match="disk full"):
            train_images(root, params=tiny, run_dir=run, progress=False, echo=None)
        info = json.loads((run / "run.json").read_text())
        assert info["status"] == "failed" and info["error"] == "OSError: disk full"
