"""ecgkit: ECG image classification with an enhanced ResNet50, on real MIT-BIH data.

The public API is re-exported here and loaded lazily: ``import ecgkit`` is instant, and
TensorFlow is imported only when a model, a pipeline or training is first touched.
``import ecgkit`` has one side effect: ecgkit's custom Keras layers and metrics are registered
as soon as Keras is loaded (``ecgkit.registration``), so a saved model loads with plain
``keras.models.load_model``.
Training is ``ecgkit.train.train(...)``: the function is not re-exported, so that the name
``ecgkit.train`` always means the module.

    from ecgkit import create_enhanced_resnet50, get_training_config
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    # data contract and parameters
    "CLASSES": "contract",
    "AAMI_MAP": "contract",
    "patient_of": "contract",
    "load_profile": "params",
    "record_list": "params",
    # records, splits, images, pipelines
    "Record": "records",
    "RecordError": "records",
    "LeadNotFoundError": "records",
    "read_record": "records",
    "paper_geometry": "render",
    "SPLIT_PROTOCOLS": "splits",
    "SplitError": "splits",
    "plan_split": "splits",
    "SplitPlan": "splits",
    "ImageFolderError": "images",
    "ImageError": "images",
    "FolderReport": "images",
    "read_image": "images",
    "clear_cache": "datasets",
    "DownloadError": "download",
    "list_records": "records",
    "beat_table": "records",
    "inter_patient_split": "splits",
    "leaky_beat_split": "splits",
    "patient_overlap": "splits",
    "render_ecg_image": "render",
    "render_batch": "render",
    "BeatSet": "datasets",
    "load_beats": "datasets",
    "signal_dataset": "datasets",
    "image_folder_dataset": "images",
    "scan_image_folder": "images",
    "build_dataset": "export",
    "download_mitdb": "download",
    # model
    "create_enhanced_resnet50": "factory",
    "create_baseline_resnet50": "factory",
    "ENHANCEMENTS": "factory",
    "gradcam_layer_name": "factory",
    "load_model": "predict",
    "WeightsUnavailableError": "backbone",
    "STAGE_OUTPUTS": "backbone",
    "resnet50_backbone": "backbone",
    "class_alpha": "training_config",
    "make_schedule": "training_config",
    "classification_metrics": "metrics",
    "MacroPrecision": "metrics",
    "MacroRecall": "metrics",
    "MacroF1": "metrics",
    "MacroSpecificity": "metrics",
    "ecg_multiscale_block": "ecg_block",
    "ecg_attention": "attention",
    "attention_maps": "attention",
    "feature_calibration": "calibration",
    "pyramid_fusion": "pyramid",
    "classification_head": "head",
    "get_training_config": "training_config",
    "count_flops": "cost",
    "count_params": "cost",
    # training, evaluation, error analysis
    "ecg_augmentation": "augment",
    "signal_augment": "augment",
    "make_signal_augment": "augment",
    "TrainResult": "training_run",
    "select_strategy": "hardware",
    "evaluate_predictions": "scoring",
    "evaluate_model": "evaluate",
    "evaluate_image_folder": "evaluate",
    "Report": "scoring",
    "write_report": "evaluate",
    "misclassified_table": "error_analysis",
    "errors_per_record": "error_analysis",
    "errors_per_patient": "error_analysis",
    "confused_pairs": "error_analysis",
    "predict_files": "predict",
    "ModelLoadError": "predict",
    "run_demo": "demo",
    "literature_table": "literature",
    "LITERATURE": "literature",
    "restrict": "scoring",
    "paired_bootstrap": "scoring",
    "class_coverage": "scoring",
    "rr_features": "rr",
    "always_n": "baselines",
    "nearest_neighbour": "baselines",
    "rr_logistic_regression": "baselines",
    "run_baselines": "baselines",
    "comparison_table": "baselines",
    "compare": "baselines",
    "fuse": "fusion",
    "choose_weight": "fusion",
    "grad_cam": "error_analysis",
    # your own labelled images
    "read_labelled_images": "folders",
    "split_images": "folders",
    "near_duplicates": "folders",
    "train_images": "image_training",
    "evaluate_images": "folder_evaluation",
    # notebooks
    "show_source": "nb",
    "record_figures": "nb",
    "read_figures": "nb",
    "check_block": "nb",
    "run_workbook": "workbook",
    "lint_notebook": "workbook",
    "WorkbookError": "workbook",
    "lr_schedule_curve": "widgets",
    "focal_loss_curve": "widgets",
    "augmentation_preview": "widgets",
    "lr_schedule_widget": "widgets",
    "focal_loss_widget": "widgets",
    "augmentation_widget": "widgets",
    "training_comparison_widget": "widgets",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'ecgkit' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"ecgkit.{module_name}"), name)
    globals()[name] = value  # cache: later look-ups skip __getattr__
    return value


def __dir__():
    return sorted(list(globals()) + __all__)


from ecgkit import registration as _registration  # noqa: E402  (needs __getattr__ above)

_registration.install()
