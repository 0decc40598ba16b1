"""Deployable models: one predictor interface over PyTorch folders and ONNX files, ONNX export, int8
quantization, evaluation with latency, and batch prediction."""
