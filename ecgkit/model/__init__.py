"""The model: the ResNet50 backbone, each architectural block, the context branch, the factory.

One module per block, in the order a feature map passes through them: ``backbone``,
``ecg_block``, ``attention``, ``calibration``, ``pyramid``, ``head``; the context as a second
input (``context_branch``); ``factory`` builds the enhanced ResNet50, its ablations and the plain
baseline; ``registration`` lets ``keras.models.load_model`` find the custom layers; ``cost``
counts parameters and FLOPs.

Introduced in: notebooks/10_resnet50_backbone.ipynb, notebooks/11_ecg_specific_block.ipynb,
notebooks/12_attention.ipynb, notebooks/13_feature_calibration.ipynb,
notebooks/14_pyramid_and_head.ipynb.
"""
