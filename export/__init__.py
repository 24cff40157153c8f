"""robnetzoo.export: deployment artifacts and robustness measured on the runtime itself.

``onnx`` (fp32 ONNX export, BN folded, dynamic batch, the model's identity in the metadata),
``precision`` (fp16 and QDQ int8 graphs), ``aoti`` (AOTInductor ``.pt2`` packages),
``tensorrt`` (engines built from the ONNX graphs; unverified, see its docstring), ``runtimes``
(``OnnxRuntimeTarget``: an evaluator target), ``parity`` (logit difference and top-1 agreement
with torch on clean and adversarial images), ``exporting`` (``export_model``: a folder of
artifacts and ``export_report.json``) and ``runtime_eval`` (``evaluate_on_runtime``: torch
beside a runtime, prediction flips).

onnx, onnxruntime and tensorrt are imported inside these modules only, never by ``import
robnetzoo``. Depends on the core, never the reverse.
"""

from .exporting import ExportReport, export_model, read_export_report
from .runtime_eval import evaluate_on_runtime

__all__ = ["ExportReport", "export_model", "read_export_report", "evaluate_on_runtime"]
