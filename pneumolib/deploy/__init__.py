"""Deployment: the detector for new images (PyTorch or ONNX), ONNX export with a parity check,
and the inference benchmark. Image reading lives in ``pneumolib.images`` (numpy and PIL only, so the ONNX detector needs no torch)."""
