PARAMS = """
DATA_DIR: str = ""  # WFDB folder; empty: the embedded MIT-BIH database in data/mitdb (48 records)
RECORDS: str = ""  # comma-separated record names to read from DATA_DIR; empty: every record
LEAD: str = "MLII"  # ECG lead, chosen by name
GRID: bool = True  # draw the ECG-paper grid behind the trace (as in training)
MAX_BEATS_PER_RECORD: int = 40  # cap of beats per record and class (0: all)
VAL_FRACTION: float = 0.2  # share of training patients held out for validation
BATCH_SIZE: int = 16  # images per batch
BOOTSTRAP: int = 200  # bootstrap resamples (by patient) for confidence intervals
SEED: int = 42  # random seed
RUN_DIR: str = "runs/notebooks"  # folder where notebooks write their outputs
MODEL_PATH: str = ""  # trained .keras model; empty: RUN_DIR/models/enhanced.keras (from 20)
"""

LOAD = """
path = nb.model_path(RUN_DIR, MODEL_PATH)
if not path.exists():
    raise FileNotFoundError(f"{path}: no trained model. Run 20_training first (same RUN_DIR), or set MODEL_PATH.")
model = load_model(path)
IMAGE_SIZE_OF_MODEL = int(model.input_shape[1])
beats = load_beats(DATA_DIR or None, records=record_list(RECORDS), lead=LEAD, max_beats_per_record=MAX_BEATS_PER_RECORD,
                   val_fraction=VAL_FRACTION, seed=SEED, progress=False)
test = beats.subset("test")
print(f"model {path.name}: {model.count_params():,} parameters, {IMAGE_SIZE_OF_MODEL} px; "
      f"{len(test)} test beats from {len(test.records())} patients-records: {' '.join(test.records())}")
"""
