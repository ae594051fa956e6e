"""The workbook around the package: figures (``plots``), interactive panels (``widgets``), the
helpers notebooks teach with (``nb``), the papermill runner and notebook rules (``runner``) and
the end-to-end demo (``demo``).

Introduced in: notebooks/00_setup_and_tour.ipynb.
"""
