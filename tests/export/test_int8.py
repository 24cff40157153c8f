"""int8 graphs whose figures are the model's, not the host's: the precise-int8 session option,
the ideal figure beside the kernel's, per-channel weights with uint8 activations (every
convolution fused), the quantization debugger, kept-float nodes, fp16's range, and an export
that needs no data set."""

from __future__ import annotations

import collections
import json

import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from robnetzoo.cli.app import main  # noqa: E402

PARITY_N = 64


@pytest.fixture(scope="module")
def exported(digits_model, tmp_path_factory):
    """The digits model exported at every precision, with the quantization debugger."""
    from robnetzoo.export import export_model

    folder = tmp_path_factory.mktemp("int8") / "export"
    report = export_model(
        digits_model,
        folder,
        precisions=("fp32", "fp16", "int8"),
        calibration_data="digits",
        calibration_n=64,
        parity_n=PARITY_N,
        quantization_debug=True,
    )
    return folder, report


def test_int8_runs_with_exact_sums_and_agrees_with_its_ideal_figure(digits_model, exported):
    """The kernel's top-1 agreement with torch stays within 3 points of the same graph computed
    in float. On x86 CPUs without VNNI a session without session.x64quantprecision=1 loses tens
    of points here; on any host the option must be set in the session itself."""
    from robnetzoo.export.host import PRECISE_INT8_OPTION
    from robnetzoo.export.runtimes import OnnxRuntimeTarget

    folder, report = exported
    int8 = report.artifacts["onnx-int8"]
    target = OnnxRuntimeTarget(folder / "model-int8.onnx", model=digits_model)
    assert target.session.get_session_options().get_session_config_entry(PRECISE_INT8_OPTION) == "1"
    assert int8["session_options"][PRECISE_INT8_OPTION] == "1"
    kernel, ideal = int8["parity"], int8["ideal_int8_parity"]
    assert kernel["clean"]["n"] == ideal["clean"]["n"] == PARITY_N
    for side in ("clean", "adversarial"):
        assert abs(kernel[side]["top1_agreement"] - ideal[side]["top1_agreement"]) <= 3.0, side
    assert ideal["clean"]["max_abs_diff"] > 1e-4  # the ideal graph really is quantized, not fp32
    assert int8["int8_kernel"]["saturates"] is False  # exact sums, whatever the host
    assert report.host["machine"] and "flags" in report.host
    default = int8["default_session_int8_kernel"]
    assert ("vpmaddubsw" in default["kernel"]) == bool(default["saturates"])
    assert bool(int8["warnings"]) == bool(default["saturates"])  # warned exactly where a default session clips


def test_the_int8_graph_is_per_channel_with_uint8_activations_and_every_convolution_fuses(exported, tmp_path):
    import numpy as np
    import onnx
    import onnxruntime
    from onnx import numpy_helper

    folder, report = exported
    recipe = report.artifacts["onnx-int8"]["quantization"]
    assert recipe["weights"] == "int8 symmetric, per channel" and recipe["activations"] == "uint8 asymmetric"
    graph = onnx.load(str(folder / "model-int8.onnx")).graph
    constants = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    weight_scales = [
        constants[n.input[1]]
        for n in graph.node
        if n.op_type == "DequantizeLinear" and constants.get(n.input[0], np.zeros(0)).ndim == 4
    ]
    assert weight_scales and all(scale.ndim == 1 and scale.size > 1 for scale in weight_scales)  # one per channel
    options = onnxruntime.SessionOptions()
    options.optimized_model_filepath = str(tmp_path / "optimised.onnx")
    onnxruntime.InferenceSession(str(folder / "model-int8.onnx"), options, providers=["CPUExecutionProvider"])
    ops = collections.Counter(n.op_type for n in onnx.load(str(tmp_path / "optimised.onnx")).graph.node)
    convolutions = sum(1 for n in onnx.load(str(folder / "model.onnx")).graph.node if n.op_type == "Conv")
    assert ops["QLinearConv"] == convolutions and ops["Conv"] + ops["FusedConv"] == 0, ops


def test_the_debugger_lists_every_quantized_tensor_worst_first(exported):
    folder, report = exported
    debug = json.loads((folder / "quantization_debug.json").read_text())
    scores = [row["sqnr_db"] for row in debug["tensors"] if "sqnr_db" in row]
    assert len(scores) > 50 and scores == sorted(scores)
    assert debug["tensors"][0]["op"] and debug["weights"] and debug["n_images"] == 32
    assert report.artifacts["onnx-int8"]["quantization_debug"]["worst_tensors"] == debug["tensors"][:5]


def test_fp16_counts_what_it_cannot_hold(exported, tmp_path):
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from robnetzoo.export.precision import fp16_range

    _, report = exported
    assert report.artifacts["onnx-fp16"]["fp16_range"]["overflow"] == 0  # a trained digits model fits
    weights = np.array([1.0, 7e4, -1e5, 1e-9, 1e-6, 0.0], dtype=np.float32)
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "w"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [6])],
        [numpy_helper.from_array(weights, "w")],
    )
    onnx.save(helper.make_model(graph), str(tmp_path / "range.onnx"))
    counted = fp16_range(tmp_path / "range.onnx")
    assert (counted["overflow"], counted["flushed"], counted["subnormal"], counted["values"]) == (2, 1, 1, 6)
    assert counted["overflowing_tensors"] == ["w"]


def test_kept_float_nodes_stay_in_fp32(digits_model, exported, tmp_path):
    import onnx

    from robnetzoo.export.precision import float_node_names, to_int8

    folder, _ = exported
    images = __import__("robnetzoo").load_dataset("digits", "train").images[:32]
    kept = float_node_names(folder / "model.onnx", ["stem", "classifier"])
    graph = onnx.load(
        str(to_int8(folder / "model.onnx", tmp_path / "kept.onnx", images, keep_float=("stem", "classifier")))
    )
    produced = {o: n for n in graph.graph.node for o in n.output}
    for node in graph.graph.node:
        if node.name in kept:  # its inputs come straight from float tensors, not from a DequantizeLinear
            assert all(produced.get(i) is None or produced[i].op_type != "DequantizeLinear" for i in node.input)
    assert len(kept) == 2 and {n.op_type for n in graph.graph.node if n.name in kept} == {"Conv", "Gemm"}


def test_a_node_kept_in_float_between_quantized_ones_runs_in_float(exported, tmp_path):
    """ONNX Runtime would quantize a kept node's float weights itself (WeightBiasQuantization) and
    fuse it into a QLinearConv; the sessions robnetzoo opens leave that optimiser out."""
    import onnx
    import onnxruntime as ort

    from robnetzoo.export.precision import to_int8
    from robnetzoo.export.runtimes import OnnxRuntimeTarget, disabled_optimizers_for

    folder, _ = exported
    graph = onnx.load(str(folder / "model.onnx")).graph
    depthwise = [
        n.name for n in graph.node if n.op_type == "Conv" and any(a.name == "group" and a.i > 1 for a in n.attribute)
    ]
    images = __import__("robnetzoo").load_dataset("digits", "train").images[:32]
    kept = to_int8(folder / "model.onnx", tmp_path / "kept.onnx", images, keep_float=tuple(depthwise))

    def float_convs(disabled: list[str]) -> int:
        options = ort.SessionOptions()
        options.optimized_model_filepath = str(tmp_path / f"optimised{len(disabled)}.onnx")
        ort.InferenceSession(str(kept), options, providers=["CPUExecutionProvider"], disabled_optimizers=disabled)
        optimised = onnx.load(options.optimized_model_filepath).graph
        return sum(n.op_type in ("Conv", "FusedConv") for n in optimised.node)

    assert float_convs([]) == 0  # what a default session does to them
    assert float_convs(disabled_optimizers_for(kept)) == len(depthwise) > 0
    assert OnnxRuntimeTarget(kept).session_options["disabled_optimizers"] == ["WeightBiasQuantization"]
    assert "disabled_optimizers" not in OnnxRuntimeTarget(folder / "model-int8.onnx").session_options


def test_int8_bad_input_is_one_line_and_writes_nothing(digits_folder, tmp_path, capsys):
    common = ["export", str(digits_folder), "--onnx", "--parity-n", "8"]
    cases = [
        (
            ["--precision", "int8", "--calibration-data", "digits", "--calibration-method", "kl"],
            "unknown calibration method 'kl'; use --calibration-method minmax|entropy|percentile",
        ),
        (
            [
                "--precision",
                "int8",
                "--calibration-data",
                "digits",
                "--calibration-n",
                "16",
                "--keep-float",
                "node_nope",
            ],
            "the graph has no node 'node_nope' to keep in float",
        ),
        (["--debug-int8"], "--debug-int8 is about int8 graphs and none is exported; add --precision int8"),
        (["--parity-data", "mnist-not-a-set"], "unknown dataset 'mnist-not-a-set'"),
    ]
    for extra, message in cases:
        folder = tmp_path / f"out-{len(extra)}-{extra[-1]}"
        assert main([*common, *extra, "-o", str(folder)]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and message in err, err
        assert not (folder / "export_report.json").exists()


def test_parity_data_of_another_size_or_class_count_is_refused(tmp_path, capsys):
    import robnetzoo
    from robnetzoo.hub import save_pretrained

    hundred = robnetzoo.create_model("robnet-large", C=4, layers=3, num_classes=100)
    save_pretrained(hundred, tmp_path / "hundred")
    assert (
        main(["export", str(tmp_path / "hundred"), "--onnx", "--parity-data", "digits", "-o", str(tmp_path / "o")]) == 2
    )
    assert (
        "digits has 10 classes, the model 100; choose --parity-data of the model's classes" in capsys.readouterr().err
    )


def test_a_cifar_model_exports_without_cifar_on_disk(tmp_path, capsys):
    """A converted CIFAR-10 model on a machine without CIFAR-10: parity on synthetic images, said."""
    import robnetzoo
    from robnetzoo.config import config_of
    from robnetzoo.hub import save_pretrained

    model = robnetzoo.create_model("robnet-large", C=4, layers=3)
    assert config_of(model).dataset == "cifar10"
    save_pretrained(model, tmp_path / "robnet-large")
    empty = tmp_path / "no-data"
    empty.mkdir()
    args = [
        "export",
        str(tmp_path / "robnet-large"),
        "--onnx",
        "--parity-n",
        "16",
        "--data-root",
        str(empty),
        "-o",
        str(tmp_path / "out"),
    ]
    assert main([*args, "--json"]) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    source = report["parity_data"]
    assert source["dataset"] == "synthetic" and source["n"] == 16 and "cifar10 not found" in source["why"]
    assert report["artifacts"]["onnx"]["parity"]["adversarial"]["top1_agreement"] == 100.0
    assert "synthetic images" in captured.err and "--parity-data" in captured.err


def test_the_kernel_is_named_from_the_cpus_flags():
    """Which hosts clip: x86 without VNNI in a default session, and no other."""
    from robnetzoo.export.host import int8_kernel, saturation_warning

    avx2 = {"name": "AMD EPYC", "machine": "x86_64", "flags": ["avx", "avx2", "fma", "sse4_1"]}
    vnni = {"name": "Xeon", "machine": "x86_64", "flags": ["avx2", "avx512f", "avx512_vnni"]}
    arm = {"name": "Graviton", "machine": "aarch64", "flags": None}
    assert int8_kernel(precise=False, host=avx2)["saturates"] is True
    assert int8_kernel(precise=True, host=avx2)["saturates"] is False
    assert int8_kernel(precise=False, host=vnni)["saturates"] is False
    assert int8_kernel(precise=False, host=arm)["saturates"] is False
    assert "session.x64quantprecision" in saturation_warning(avx2) and saturation_warning(vnni) is None
