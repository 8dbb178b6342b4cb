"""Deployment of a trained model: ONNX export, the torch-free runtime, fast simulation in
Geant4.

* :mod:`~caloforge.deploy.export`: checkpoint -> one ONNX graph with its metadata
  (parity with PyTorch checked);
* :mod:`~caloforge.deploy.runtime`: generation from an export with numpy and onnxruntime
  only (no torch);
* :mod:`~caloforge.deploy.fastsim`: the exported model inside the Geant4 run.

Nothing is imported here: ``caloforge.deploy.runtime`` must stay importable without torch.
"""
