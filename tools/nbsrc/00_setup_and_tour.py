"""
Title: 00 · Setup and tour
Description: Checks that the environment works, shows where the ECG data lives, and explains the
    three ways to run this workbook.
What you will learn:
- which versions of Python, Keras and its backend you run, and whether a GPU is visible
- where the MIT-BIH records live (all 48 ship with the project, losslessly compressed)
- how one set of UPPER_CASE parameters drives every notebook, the CLI and the profiles
- how to run the workbook in JupyterLab, with papermill, and with `ecgkit workbook run`
Prerequisites:
- `make run` or `make test` once (it creates `.venv` and installs `ecgkit`)
- no prior notebook
"""

# %% [markdown]
"""
## Parameters

Every notebook starts with one cell tagged `parameters`: plain `NAME: type = value  # meaning`
lines and nothing else. Papermill runs that cell, then injects a profile's values right after
it, so anything computed from a parameter lives in the *next* cell. The names are the same in
every notebook: they are defined once, in the table `ecgkit.params.PARAMS`, and each cell is
written from that table (type, default, and the meaning as the comment). Where a notebook
needs its own default, a small data cap so that it runs in minutes without a profile, the
comment names the table's default too.
"""

# %% [parameters]
RUN_DIR: str = "runs/notebooks"  # folder where notebooks and runs write their outputs
DATA_DIR: str = ""  # WFDB folder to read; empty: the embedded database in data/mitdb (all 48
#   MIT-BIH records)

# %%
import pandas as pd

from ecgkit import contract, params
from ecgkit.data.records import list_records
from ecgkit.params import record_list
from ecgkit.workbook import nb, runner

NOTEBOOK = "00_setup_and_tour"
OUT = nb.output_dir(RUN_DIR, NOTEBOOK)  # RUN_DIR/00_setup_and_tour
DATA = nb.data_dir(DATA_DIR)
print("outputs go to", OUT)

# %% [markdown]
"""
## 1. The environment

`ecgkit.workbook.nb.environment()` reports the versions that matter, the Keras backend
(`KERAS_BACKEND`: TensorFlow by default, or JAX or PyTorch) and the GPUs it sees. Importing
the backend takes a few seconds; that is the fixed cost of every notebook here.
"""

# %%
env = nb.environment()
pd.Series({k: v for k, v in env.items() if k != "gpus"}, name="version").to_frame()

# %%
import sys

assert sys.version_info >= (3, 10), "ecgkit needs Python 3.10 or newer"
assert env["keras"] and env["keras"].startswith("3."), "Keras 3 is required"
assert env[env["backend"]], f"the Keras backend {env['backend']} is not installed"
if env["gpus"]:
    print(f"GPU: {env['gpus']}: use params/gpu.yaml for the full study")
else:
    print(f"No GPU: CPU with {env['cpu_count']} cores. params/cpu.yaml keeps every notebook short.")

# %% [markdown]
"""
## 2. Where the data lives

The project ships the whole **real** MIT-BIH Arrhythmia Database (all 48 records, WFDB format,
signals losslessly compressed as FLAC: 32 MB instead of 94 MB) in `data/mitdb`; it is the
default everywhere, so nothing needs downloading. `DATA_DIR` chooses another WFDB folder, and
`RECORDS` a few of its records (the smoke profile reads a few, to stay fast: counted below).
"""

# %%
records = list_records(DATA)
print(f"{DATA}: {len(records)} records")
print(" ".join(records))
assert len(records) > 0
smoke_records = record_list(params.load_profile("smoke")["RECORDS"])
print(f"the smoke profile reads {len(smoke_records)} of them: {' '.join(smoke_records)}")
print(
    "embedded database:",
    contract.EMBEDDED_DATA_DIR,
    f"({len(list_records(contract.EMBEDDED_DATA_DIR))} records)",
)

# %% [markdown]
"""
The fixed choices about signals, beats and images (sampling rate, lead, window, paper scales,
class order, split) are written once, in `ecgkit/contract.py`:
"""

# %%
pd.Series(
    {
        "FS (Hz)": contract.FS,
        "LEAD": contract.LEAD,
        "CLASSES": " ".join(contract.CLASSES),
        "window (s)": contract.WINDOW_BEFORE_S + contract.WINDOW_AFTER_S,
        "WINDOW_SAMPLES": contract.WINDOW_SAMPLES,
        "IMAGE_SIZE": contract.IMAGE_SIZE,
        "paper speed (mm/s)": contract.PAPER_SPEED_MM_S,
        "gain (mm/mV)": contract.PAPER_GAIN_MM_MV,
    },
    name="contract",
).to_frame()

# %% [markdown]
"""
## 3. One vocabulary of parameters

`ecgkit.params.PARAMS` defines every name a notebook, a profile or `ecgkit train --params`
may use. An unknown name is an **error**, never a warning: a typo must not silently run the
default. Here is the validation, from the library itself:
"""

# %%
nb.show_source(params.validate)

# %%
table = pd.DataFrame(
    [(name, p.type.__name__, p.default, p.help) for name, p in params.PARAMS.items()],
    columns=["name", "type", "default", "meaning"],
).set_index("name")
table

# %%
try:
    params.validate({"EPOCS": 3})
except params.ParamError as err:
    print("as expected:", err)
else:
    raise AssertionError("a misspelt parameter must be rejected")

# %% [markdown]
"""
A **profile** is a YAML file of these names. Four ship with the project: `smoke` (tests,
seconds per notebook), `cpu` (the main job, `make run`, about 20 minutes on 2 cores), `gpu`
(the full study) and `demo` (`ecgkit demo`: the enhanced model alone, trained and evaluated
in minutes).
"""

# %%
profiles = {name: params.load_profile(name) for name in ("smoke", "cpu", "gpu", "demo")}
pd.DataFrame(profiles).fillna("(default)")

# %% [markdown]
"""
## 4. Three ways to run the workbook

1. **JupyterLab**, interactively: `.venv/bin/jupyter lab notebooks/`. Edit the parameters
   cell and run the cells in order. Outputs go to `RUN_DIR` (relative paths are taken from
   the project root).
2. **papermill**, one notebook in batch:
   `.venv/bin/papermill notebooks/02_signals_to_images.ipynb out.ipynb -p IMAGE_SIZE 96`
   (`-f params/smoke.yaml` passes a whole profile; `--help-notebook` lists a notebook's
   parameters with their comments).
3. **The CLI**, the whole workbook: `ecgkit workbook run --profile cpu [--out DIR] [--only 01,02]`.
   It validates the profile and every notebook's parameters before running anything, executes
   the notebooks in order into the run folder, stops at the first failing cell (naming the
   notebook and the cell), and writes `summary.csv` / `summary.md`. `make run` calls it.

The notebooks and the parameters each declares:
"""

# %%
notebooks = runner.list_notebooks()
pd.DataFrame(
    [(p.stem, ", ".join(q.name for q in runner.notebook_parameters(p))) for p in notebooks],
    columns=["notebook", "parameters"],
).set_index("notebook")

# %% [markdown]
"""
Each notebook records its key numbers with `ecgkit.workbook.nb.record_figures` to
`RUN_DIR/<notebook>/figures.json`; the runner turns them into the summary table and the tests
check them. This notebook records its environment:
"""

# %%
nb.show_source(nb.record_figures)

# %%
path = nb.record_figures(
    RUN_DIR,
    NOTEBOOK,
    {
        "python": env["python"],
        "backend": env["backend"],
        env["backend"]: env[env["backend"]],
        "keras": env["keras"],
        "gpus": len(env["gpus"]),
        "cpu_count": env["cpu_count"],
        "records": len(records),
        "notebooks": len(notebooks),
        "parameters": len(params.PARAMS),
    },
)
print(path.read_text())

# %% [markdown]
"""
## Summary

- The environment works if the checks above passed; a GPU is used automatically when present.
- Data: the whole MIT-BIH database, embedded, by default; `DATA_DIR` points elsewhere and
  `RECORDS` picks a few records.
- One vocabulary of UPPER_CASE parameters drives every notebook; profiles are YAML files of
  those names; unknown names are errors.
- Run interactively in JupyterLab, one notebook with papermill, or everything with
  `ecgkit workbook run --profile cpu`.

## Exercises

1. Write a profile `my.yaml` with `IMAGE_SIZE: 128` and `EPOCHS: 2`, and check it with
   `params.load_profile("my.yaml")`. Then misspell a name and read the error.
2. Run `ecgkit workbook run --profile smoke --only 00,01 --out runs/try` in a terminal and open
   `runs/try/summary.md`.
3. Run `papermill --help-notebook notebooks/02_signals_to_images.ipynb`: where do the
   parameter descriptions come from?
"""
