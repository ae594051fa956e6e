"""ecgkit: ECG image classification with an enhanced ResNet50, on real MIT-BIH data.

The public API is re-exported here and loaded lazily: ``import ecgkit`` is instant, and
TensorFlow is imported only when a model, a pipeline or training is first touched.
``import ecgkit`` has one side effect: ecgkit's custom Keras layers and metrics are registered
as soon as Keras is loaded (``ecgkit.model.registration``), so a saved model loads with plain
``keras.models.load_model``.
Training is ``ecgkit.training.train.train(...)``: the function is not re-exported, so that the name
``ecgkit.training.train`` always means the module.

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
    "Record": "data.records",
    "RecordError": "data.records",
    "LeadNotFoundError": "data.records",
    "read_record": "data.records",
    "paper_geometry": "data.render",
    "SPLIT_PROTOCOLS": "data.splits",
    "SplitError": "data.splits",
    "plan_split": "data.splits",
    "SplitPlan": "data.splits",
    "ImageFolderError": "data.images",
    "ImageError": "data.images",
    "FolderReport": "data.images",
    "read_image": "data.images",
    "clear_cache": "data.datasets",
    "DownloadError": "data.download",
    "list_records": "data.records",
    "beat_table": "data.records",
    "inter_patient_split": "data.splits",
    "leaky_beat_split": "data.splits",
    "patient_overlap": "data.splits",
    "render_ecg_image": "data.render",
    "render_batch": "data.render",
    "BeatSet": "data.datasets",
    "load_beats": "data.datasets",
    "signal_dataset": "data.datasets",
    "image_folder_dataset": "data.images",
    "scan_image_folder": "data.images",
    "build_dataset": "data.export",
    "download_mitdb": "data.download",
    # model
    "create_enhanced_resnet50": "model.factory",
    "create_baseline_resnet50": "model.factory",
    "ENHANCEMENTS": "model.factory",
    "gradcam_layer_name": "model.factory",
    "load_model": "evaluation.predict",
    "WeightsUnavailableError": "model.backbone",
    "STAGE_OUTPUTS": "model.backbone",
    "resnet50_backbone": "model.backbone",
    "class_alpha": "training.training_config",
    "make_schedule": "training.training_config",
    "classification_metrics": "training.metrics",
    "MacroPrecision": "training.metrics",
    "MacroRecall": "training.metrics",
    "MacroF1": "training.metrics",
    "MacroSpecificity": "training.metrics",
    "ecg_multiscale_block": "model.ecg_block",
    "ecg_attention": "model.attention",
    "attention_maps": "model.attention",
    "feature_calibration": "model.calibration",
    "pyramid_fusion": "model.pyramid",
    "classification_head": "model.head",
    "get_training_config": "training.training_config",
    "count_flops": "model.cost",
    "count_params": "model.cost",
    # training, evaluation, error analysis
    "ecg_augmentation": "data.augment",
    "signal_augment": "data.augment",
    "make_signal_augment": "data.augment",
    "TrainResult": "training.training_run",
    "select_strategy": "training.hardware",
    "evaluate_predictions": "evaluation.scoring",
    "evaluate_model": "evaluation.evaluate",
    "evaluate_image_folder": "evaluation.evaluate",
    "Report": "evaluation.scoring",
    "write_report": "evaluation.evaluate",
    "misclassified_table": "evaluation.error_analysis",
    "errors_per_record": "evaluation.error_analysis",
    "errors_per_patient": "evaluation.error_analysis",
    "confused_pairs": "evaluation.error_analysis",
    "predict_files": "evaluation.predict",
    "ModelLoadError": "evaluation.predict",
    "run_demo": "workbook.demo",
    "literature_table": "evaluation.literature",
    "LITERATURE": "evaluation.literature",
    "restrict": "evaluation.scoring",
    "paired_bootstrap": "evaluation.scoring",
    "class_coverage": "evaluation.scoring",
    "rr_features": "data.rr",
    "always_n": "evaluation.baselines",
    "nearest_neighbour": "evaluation.baselines",
    "rr_logistic_regression": "evaluation.baselines",
    "run_baselines": "evaluation.baselines",
    "comparison_table": "evaluation.baselines",
    "compare": "evaluation.baselines",
    "fuse": "evaluation.fusion",
    "choose_weight": "evaluation.fusion",
    "grad_cam": "evaluation.error_analysis",
    # your own labelled images
    "read_labelled_images": "data.folders",
    "split_images": "data.folders",
    "near_duplicates": "data.folders",
    "train_images": "training.image_training",
    "evaluate_images": "evaluation.folder_evaluation",
    # notebooks
    "show_source": "workbook.nb",
    "record_figures": "workbook.nb",
    "read_figures": "workbook.nb",
    "check_block": "workbook.nb",
    "run_workbook": "workbook.runner",
    "lint_notebook": "workbook.runner",
    "WorkbookError": "workbook.runner",
    "lr_schedule_curve": "workbook.widgets",
    "focal_loss_curve": "workbook.widgets",
    "augmentation_preview": "workbook.widgets",
    "lr_schedule_widget": "workbook.widgets",
    "focal_loss_widget": "workbook.widgets",
    "augmentation_widget": "workbook.widgets",
    "training_comparison_widget": "workbook.widgets",
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


from ecgkit.model import registration as _registration  # noqa: E402  (needs __getattr__ above)

_registration.install()
