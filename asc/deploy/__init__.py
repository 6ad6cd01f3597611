"""A trained network as it is shipped: ONNX export, quantised accuracy, latency and the asc-time command."""
