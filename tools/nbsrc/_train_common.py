"""Parameter names shared by the training and evaluation notebooks (20, 30-32).

The notebooks' own defaults (``NAME=value``) keep a run without a profile to minutes on a CPU.
"""

DATA = ["DATA_DIR", "RECORDS", "SPLIT", "LEAD", "IMAGE_SIZE", "GRID", "MAX_BEATS_PER_RECORD=40",
        "VAL_FRACTION"]

TRAINING = ["WEIGHTS", "DROPOUT", "STEPS_PER_EPOCH=15", "BATCH_SIZE=16", "LEARNING_RATE",
            "WEIGHT_DECAY", "WARMUP_EPOCHS=0.5", "FOCAL_GAMMA", "CLASS_BALANCE", "AUGMENT_STRENGTH",
            "MIXED_PRECISION", "SEED", "RUN_DIR"]


def params_dict(names: list[str]) -> str:
    """Code that collects a notebook's parameters into ``PARAMS`` by name, for ``train()``.

    Written out name by name (no scrape of ``globals()``): the dict holds exactly the names of
    the notebook's parameters cell, and a reader sees which.
    """
    lines = ["PARAMS = {  # this notebook's parameters, as train() takes them"]
    lines += [f'    "{n.partition("=")[0]}": {n.partition("=")[0]},' for n in names]
    return "\n".join(lines + ["}"])
