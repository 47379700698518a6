"""Model runners and model provisioning.

A model is pre/post-processing written once (``engines.yolo``) plus a runner that only moves
tensors (``engines.runners``); runtimes are imported lazily so a CPU box never needs TensorRT.
Model files are produced by ``engines.provision`` into a data folder and never live in git.
"""
