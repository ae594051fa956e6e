"""Cells shared by the architecture notebooks 10-14 (kept here so they stay identical)."""

PARAMS = ["DATA_DIR", "RECORDS", "LEAD", "IMAGE_SIZE", "GRID", "WEIGHTS", "MAX_BEATS_PER_RECORD=40",
          "SEED", "RUN_DIR"]

REAL_IMAGES = """
beats = load_beats(DATA_DIR or None, records=record_list(RECORDS), lead=LEAD,
                   max_beats_per_record=MAX_BEATS_PER_RECORD, seed=SEED, progress=False)
rng = np.random.default_rng(SEED)
pick = [int(rng.choice(np.flatnonzero(beats.labels == k)))
        for k in range(len(contract.CLASSES)) if (beats.labels == k).any()]
pick_names = [contract.CLASSES[beats.labels[i]] for i in pick]
images, _ = render_batch(beats.windows[pick], IMAGE_SIZE, GRID)
keras.utils.set_random_seed(SEED)
print(images.shape, pick_names)
"""


def derived(notebook: str, extra_imports: str = "") -> str:
    return f'''
import keras
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ecgkit import contract, nb, render
from ecgkit.datasets import load_beats
from ecgkit.params import record_list, weights_arg
from ecgkit.render import render_batch
{extra_imports}
NOTEBOOK = "{notebook}"
OUT = nb.output_dir(RUN_DIR, NOTEBOOK)
WEIGHTS_ARG = weights_arg(WEIGHTS)  # what the builders take: None for "none"
INPUT_SHAPE = (IMAGE_SIZE, IMAGE_SIZE, 3)
'''
