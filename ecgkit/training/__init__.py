"""Training: the recipe (``training_config``), the class-balance choices (``balance``), the
metrics (``metrics``), the machine (``hardware``, ``backends``), the callbacks (``callbacks``),
safe files (``atomic``, ``run_folder``), and the runs themselves: ``train`` (MIT-BIH beats),
``image_training`` (your own image folder), the steps both share (``training_run``).

Introduced in: notebooks/20_training.ipynb, notebooks/21_hyperparameter_explorer.ipynb.
"""
