"""The data: from a WFDB record to batches of ECG images.

Reading records (``records``), the split by patient (``splits``), each beat's RR intervals and
context (``rr``, ``context``), beats in memory and the input pipeline (``datasets``,
``batches``), drawing (``render``, ``context_image``), ECG-safe augmentation (``augment``), image
files and your own labelled folders (``images``, ``folders``), export (``export``, ``rhythm``) and
PhysioNet's files (``download``).

Introduced in: notebooks/01_data_exploration.ipynb, notebooks/02_signals_to_images.ipynb,
notebooks/03_ecg_augmentation.ipynb.
"""
