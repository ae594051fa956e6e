"""Parameter names and the loading cell shared by the evaluation notebooks (30, 31, 32).

The data parameters are taken from ``_train_common.DATA`` (the training notebooks' names, with
their notebook defaults), so a name has the same default in every notebook: run 20 and then 30
with the defaults, and 30 reads the test patients of the split 20 trained on, drawn the way 20
drew them.
"""

from _train_common import DATA


def data_names(*names: str) -> list[str]:
    """The items of ``_train_common.DATA`` that declare ``names``, in that list's order."""
    items = [item for item in DATA if item.partition("=")[0] in names]
    missing = set(names) - {item.partition("=")[0] for item in items}
    if missing:
        raise KeyError(f"_train_common.DATA declares no {sorted(missing)}")
    return items


TEST = ["TEST_MAX_BEATS_PER_RECORD=100"]
OUTPUTS = ["BATCH_SIZE=16", "BOOTSTRAP", "SEED", "RUN_DIR"]
MODEL = ["MODEL_PATH"]

PARAMS = (data_names("DATA_DIR", "RECORDS", "SPLIT", "LEAD", "GRID", "MAX_BEATS_PER_RECORD", "VAL_FRACTION")
          + TEST + OUTPUTS + MODEL)
"""Notebook 30: MAX_BEATS_PER_RECORD is the network's training cap (named in the text; the baselines get every training beat)."""

PARAMS_NO_TRAINING = data_names("DATA_DIR", "RECORDS", "SPLIT", "LEAD", "GRID", "VAL_FRACTION") + TEST + OUTPUTS
"""Notebooks 31 (plus MODEL) and 32: they read test beats only."""

TEST_BEATS = """
beats = load_beats(DATA_DIR or None, records=record_list(RECORDS), split=SPLIT, lead=LEAD,
                   max_beats_per_record=TEST_MAX_BEATS_PER_RECORD, val_fraction=VAL_FRACTION,
                   seed=SEED, progress=False)
test = beats.subset("test")
# N/n per record and class: the weighted beats are every test beat
weights = test.meta["weight"].to_numpy()
cap = (f"at most {TEST_MAX_BEATS_PER_RECORD} per record and class"
       if TEST_MAX_BEATS_PER_RECORD else "all")
print(f"{SPLIT}: {len(test)} test beats ({cap}) from records {' '.join(test.records())}; "
      f"weighted {weights.sum():,.0f} = every test beat of these records")
"""

LOAD = """
path = nb.model_path(RUN_DIR, MODEL_PATH)
if not path.exists():
    raise FileNotFoundError(f"{path}: no trained model. Run 20_training first (same RUN_DIR), "
                            "or set MODEL_PATH.")
model = load_model(path)
from ecgkit import provenance  # what the model records about its training (split, grid, context)

# the model's protocol (a different SPLIT is used, with a warning); a GRID that contradicts the
# model is refused
SPLIT = provenance.protocol(model, SPLIT)
provenance.check_settings(model, {"GRID": GRID}, source="parameter GRID")
IMAGE_SIZE_OF_MODEL = nb.image_size_of(model)
print(f"model {path.name}: {model.count_params():,} parameters, {IMAGE_SIZE_OF_MODEL} px")
""" + TEST_BEATS
