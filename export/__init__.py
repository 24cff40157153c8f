"""robnetzoo.export: deployment artifacts and robustness measured on the runtime itself.

Built so far (issue 10 is open): ``onnx`` (fp32 ONNX export, BN folded, dynamic batch, the
model's identity in the metadata), ``aoti`` (AOTInductor ``.pt2`` packages), ``runtimes``
(``OnnxRuntimeTarget``: an evaluator target), ``precision`` (fp16 and QDQ int8 graphs),
``parity`` (logit difference and top-1 agreement with torch on clean and adversarial images),
``exporting`` (``export_model``: a folder of artifacts and ``export_report.json``) and
``runtime_eval`` (``evaluate_on_runtime``: torch beside a runtime, flips). TensorRT is not
built yet. onnx / onnxruntime are imported only here,
never by ``import robnetzoo``. Depends on the core, never the reverse.
"""
