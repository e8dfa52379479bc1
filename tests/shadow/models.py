"""Real models for the shadow tests, built from scikit-learn's bundled data sets or with onnx.helper."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from numpy.typing import NDArray
from onnx import TensorProto, helper, numpy_helper

from shadow.tensors import Feed


@dataclass(frozen=True)
class BuiltModel:
    """An ONNX file, the rows to replay through it, and their true labels when known."""

    path: Path
    input_name: str
    rows: NDArray[np.float32]
    labels: tuple[str, ...] | None

    def feeds(self, count: int | None = None) -> list[Feed]:
        """Per-request feeds at batch 1."""
        rows = self.rows if count is None else self.rows[:count]
        return [{self.input_name: rows[i : i + 1]} for i in range(len(rows))]


def _save_sklearn(estimator: object, sample: NDArray[np.float32], path: Path, classifier: bool = True) -> str:
    """Export a fitted estimator (classifiers: probabilities as a plain tensor, no ZipMap); returns the input name."""
    from skl2onnx import to_onnx

    options = {"zipmap": False} if classifier else None
    proto = to_onnx(estimator, sample[:1], options=options, target_opset={"": 17, "ai.onnx.ml": 3})
    onnx.save(proto, str(path))
    return str(proto.graph.input[0].name)


def digits_mlp(workdir: Path) -> BuiltModel:
    """An MLP on scaled digits (inside the graph): the model int8 is expected to keep intact."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = load_digits(return_X_y=True)
    x = x.astype(np.float32)
    x_fit, x_test, y_fit, y_test = train_test_split(x, y, test_size=0.5, random_state=0, stratify=y)
    model = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(128,), max_iter=200, random_state=0))
    model.fit(x_fit, y_fit)
    name = _save_sklearn(model, x_fit, workdir / "digits_mlp.onnx")
    return BuiltModel(workdir / "digits_mlp.onnx", name, x_test, tuple(str(label) for label in y_test))


def iris_tiny_mlp(workdir: Path) -> BuiltModel:
    """A 4-8-3 MLP on iris: so little compute that quantization and casts can only add overhead."""
    from sklearn.datasets import load_iris
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = load_iris(return_X_y=True)
    x = x.astype(np.float32)
    mlp = MLPClassifier(hidden_layer_sizes=(8,), max_iter=2000, random_state=0)
    model = make_pipeline(StandardScaler(), mlp).fit(x, y)
    name = _save_sklearn(model, x, workdir / "iris_mlp.onnx")
    rows = np.concatenate([x] * 2)
    return BuiltModel(workdir / "iris_mlp.onnx", name, rows, tuple(str(label) for label in np.concatenate([y] * 2)))


def iris_tree_pipeline(workdir: Path) -> BuiltModel:
    """A scaler and a decision tree on iris: ai.onnx.ml ops and one Identity, nothing a quantizer supports."""
    from sklearn.datasets import load_iris
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    x, y = load_iris(return_X_y=True)
    x = x.astype(np.float32)
    model = make_pipeline(StandardScaler(), DecisionTreeClassifier(max_depth=4, random_state=0)).fit(x, y)
    name = _save_sklearn(model, x, workdir / "iris_tree.onnx")
    rows = np.concatenate([x] * 2)
    return BuiltModel(workdir / "iris_tree.onnx", name, rows, tuple(str(label) for label in np.concatenate([y] * 2)))


def weights_only_qdq_model(workdir: Path) -> Path:
    """A QDQ graph as a static quantizer leaves it when it quantized the weight but not the activation."""
    w = np.arange(-8, 8, dtype=np.int8).reshape(4, 4)
    nodes = [
        helper.make_node("DequantizeLinear", ["w_q", "w_scale", "w_zero"], ["w"]),
        helper.make_node("MatMul", ["x", "w"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "weights_only",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])],
        [
            numpy_helper.from_array(w, "w_q"),
            numpy_helper.from_array(np.array(0.1, dtype=np.float32), "w_scale"),
            numpy_helper.from_array(np.array(0, dtype=np.int8), "w_zero"),
        ],
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    proto.ir_version = 8
    path = workdir / "weights_only.onnx"
    onnx.save(proto, str(path))
    return path


def extreme_range_mlp(workdir: Path, rows: int = 300) -> BuiltModel:
    """An MLP whose first layer holds one huge weight column: per-tensor int8 rounds every other weight to 0."""
    rng = np.random.default_rng(0)
    d_in, hidden, classes = 16, 32, 5
    w1 = (0.3 * rng.standard_normal((d_in, hidden))).astype(np.float32)
    w1[:, 0] = 1000.0  # a unit that saturates the int8 range; the output ignores it
    w2 = rng.standard_normal((hidden, classes)).astype(np.float32)
    w2[0, :] = 0.0
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["h"]),
        helper.make_node("Relu", ["h"], ["r"]),
        helper.make_node("MatMul", ["r", "w2"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1),
        helper.make_node("ArgMax", ["logits"], ["label"], axis=1, keepdims=0),
    ]
    graph = helper.make_graph(
        nodes,
        "extreme_range_mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", d_in])],
        [
            helper.make_tensor_value_info("label", TensorProto.INT64, ["N"]),
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", classes]),
        ],
        [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2")],
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    proto.ir_version = 8
    onnx.checker.check_model(proto)
    path = workdir / "extreme_range.onnx"
    onnx.save(proto, str(path))
    return BuiltModel(path, "x", rng.standard_normal((rows, d_in)).astype(np.float32), None)


def other_signature_model(workdir: Path) -> Path:
    """A model whose input has another name, type and rank than the digits MLP's."""
    graph = helper.make_graph(
        [helper.make_node("Identity", ["tokens"], ["out"])],
        "other_signature",
        [helper.make_tensor_value_info("tokens", TensorProto.INT64, ["N", 8, 2])],
        [helper.make_tensor_value_info("out", TensorProto.INT64, ["N", 8, 2])],
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    proto.ir_version = 8
    path = workdir / "other_signature.onnx"
    onnx.save(proto, str(path))
    return path


def diabetes_regressor(workdir: Path) -> BuiltModel:
    """A small MLP regressor on the diabetes data set."""
    from sklearn.datasets import load_diabetes
    from sklearn.neural_network import MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = load_diabetes(return_X_y=True)
    x = x.astype(np.float32)
    model = make_pipeline(StandardScaler(), MLPRegressor(hidden_layer_sizes=(32,), max_iter=2000, random_state=0)).fit(
        x, y
    )
    name = _save_sklearn(model, x, workdir / "diabetes_mlp.onnx", classifier=False)
    return BuiltModel(workdir / "diabetes_mlp.onnx", name, x, None)


def sequence_model(workdir: Path, per_token: bool = False) -> tuple[Path, list[Feed]]:
    """A model over sequences of any length ([N, L] token embeddings, one feature each) and 120 requests of
    lengths 3 to 7: a mean over the sequence (one number per request), or, with ``per_token``, every token's
    value doubled (an output as long as the request)."""
    if per_token:
        nodes = [helper.make_node("Add", ["x", "x"], ["y"])]
        output = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", "L"])
    else:
        nodes = [helper.make_node("ReduceMean", ["x"], ["y"], axes=[1], keepdims=0)]
        output = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N"])
    graph = helper.make_graph(
        nodes, "sequence", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", "L"])], [output]
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    proto.ir_version = 8
    path = workdir / f"sequence{'_per_token' if per_token else ''}.onnx"
    onnx.save(proto, str(path))
    rng = np.random.default_rng(0)
    feeds = [{"x": rng.standard_normal((1, 3 + i % 5)).astype(np.float32)} for i in range(120)]
    return path, feeds


def rare_class_model(workdir: Path, rows: int = 6000) -> BuiltModel:
    """Five classes; the rare class 4 (x0 above about 2.2, ~1.4% of traffic) hangs on one weight of 3.0 in a
    matrix whose other weight is 1000 on a feature that is always 0. Per-tensor int8 rounds the 3.0 to 0, so
    int8 never predicts class 4 and agrees everywhere else: it holds overall and breaks one class (and the
    top range of feature 0)."""
    rng = np.random.default_rng(0)
    w_main = np.zeros((5, 4), dtype=np.float32)
    w_main[1, 0] = w_main[2, 1] = w_main[3, 2] = 1.0
    w_main[1, 3] = w_main[2, 3] = -0.7
    w_rare = np.array([[3.0], [0.0], [0.0], [0.0], [1000.0]], dtype=np.float32)
    nodes = [
        helper.make_node("MatMul", ["x", "w_main"], ["main"]),
        helper.make_node("MatMul", ["x", "w_rare"], ["rare_raw"]),
        helper.make_node("Add", ["rare_raw", "b_rare"], ["rare"]),
        helper.make_node("Concat", ["main", "rare"], ["logits"], axis=1),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1),
        helper.make_node("ArgMax", ["logits"], ["label"], axis=1, keepdims=0),
    ]
    graph = helper.make_graph(
        nodes,
        "rare_class",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 5])],
        [
            helper.make_tensor_value_info("label", TensorProto.INT64, ["N"]),
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 5]),
        ],
        [
            numpy_helper.from_array(w_main, "w_main"),
            numpy_helper.from_array(w_rare, "w_rare"),
            numpy_helper.from_array(np.array([-5.0], dtype=np.float32), "b_rare"),
        ],
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    proto.ir_version = 8
    onnx.checker.check_model(proto)
    path = workdir / "rare_class.onnx"
    onnx.save(proto, str(path))
    x = rng.standard_normal((rows, 5)).astype(np.float32)
    x[:, 4] = 0.0
    return BuiltModel(path, "x", x, None)


def relu_mlp(workdir: Path, widths: tuple[int, ...] = (64, 256, 256, 256, 10), rows: int = 400) -> BuiltModel:
    """A MatMul/Relu chain with random weights (onnx.helper), ending in a softmax; ``widths`` from input to
    classes. Hidden unit 0 of the first layer has zero weights: it never fires, so pruning must drop it first."""
    import itertools

    rng = np.random.default_rng(0)
    nodes, weights, previous = [], [], "x"
    for i, (fan_in, fan_out) in enumerate(itertools.pairwise(widths)):
        w = (rng.standard_normal((fan_in, fan_out)) / fan_in**0.5).astype(np.float32)
        if i == 0:
            w[:, 0] = 0.0
        weights.append(numpy_helper.from_array(w, f"w{i}"))
        nodes.append(helper.make_node("MatMul", [previous, f"w{i}"], [f"h{i}"]))
        if i < len(widths) - 2:
            nodes.append(helper.make_node("Relu", [f"h{i}"], [f"r{i}"]))
            previous = f"r{i}"
    nodes.append(helper.make_node("Softmax", [f"h{len(widths) - 2}"], ["probabilities"], axis=-1))
    graph = helper.make_graph(
        nodes,
        "relu_mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", widths[0]])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", widths[-1]])],
        weights,
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    proto.ir_version = 8
    path = workdir / "relu_mlp.onnx"
    onnx.save(proto, str(path))
    return BuiltModel(path, "x", rng.standard_normal((rows, widths[0])).astype(np.float32), None)
