"""robnetzoo.export: ONNX / TensorRT export and runtime robustness checks.

Not built yet; see the open issues. Depends on the core (``robnetzoo``), never the reverse.
"""
