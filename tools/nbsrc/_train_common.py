"""Parameter lines shared by the training notebooks (20, 32)."""

DATA = """
DATA_DIR: str = ""  # WFDB folder; empty: the embedded MIT-BIH database in data/mitdb (48 records)
RECORDS: str = ""  # comma-separated record names to read from DATA_DIR; empty: every record
SPLIT: str = "inter-patient"  # split protocol: inter-patient, inter-patient-strict (paced out), or beat-random-LEAKS-PATIENTS
LEAD: str = "MLII"  # ECG lead, chosen by name
IMAGE_SIZE: int = 96  # side of the square ECG image in pixels
GRID: bool = True  # draw the ECG-paper grid behind the trace
MAX_BEATS_PER_RECORD: int = 40  # cap of beats per record and class (0: all)
VAL_FRACTION: float = 0.2  # share of training patients held out for validation
"""

TRAINING = """
WEIGHTS: str = "none"  # backbone weights: imagenet, none, or a weights file
DROPOUT: float = 0.5  # dropout rate in the classification head
STEPS_PER_EPOCH: int = 15  # batches per epoch (0: one pass over the training data)
BATCH_SIZE: int = 16  # images per batch
LEARNING_RATE: float = 0.0003  # peak learning rate after warm-up (AdamW)
WEIGHT_DECAY: float = 0.0001  # AdamW decoupled weight decay
WARMUP_EPOCHS: float = 0.5  # linear warm-up length in epochs
FOCAL_GAMMA: float = 2.0  # focal-loss focusing parameter gamma
CLASS_BALANCE: str = "alpha"  # alpha, class_weight, sampling or none
AUGMENT_STRENGTH: float = 1.0  # ECG-safe augmentation strength (0: off, 1: default)
MIXED_PRECISION: str = "auto"  # auto (on for GPU), on or off
SEED: int = 42  # random seed for splits, sampling, augmentation and initialisation
RUN_DIR: str = "runs/notebooks"  # folder where notebooks write their outputs
"""
