"""Evaluation: arrays in, report out (``scoring``), the runner that predicts and writes reports
(``evaluate``, ``folder_evaluation``, ``predict``), the baselines and late fusion every figure
stands beside (``baselines``, ``fusion``), published results (``literature``), what a model
records about its training (``provenance``) and which beats it gets wrong (``error_analysis``).

Introduced in: notebooks/30_evaluation.ipynb, notebooks/31_error_analysis.ipynb,
notebooks/32_ablation.ipynb.
"""
