"""Parameter names shared by the training and evaluation notebooks (20, 30-32).

The notebooks' own defaults (``NAME=value``) keep a run without a profile to minutes on a CPU.
"""

DATA = ["DATA_DIR", "RECORDS", "SPLIT", "LEAD", "IMAGE_SIZE", "GRID", "MAX_BEATS_PER_RECORD=40",
        "VAL_FRACTION"]

TRAINING = ["WEIGHTS", "DROPOUT", "STEPS_PER_EPOCH=15", "BATCH_SIZE=16", "LEARNING_RATE",
            "WEIGHT_DECAY", "WARMUP_EPOCHS=0.5", "FOCAL_GAMMA", "CLASS_BALANCE", "AUGMENT_STRENGTH",
            "MIXED_PRECISION", "SEED", "RUN_DIR"]
