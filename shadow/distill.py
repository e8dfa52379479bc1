"""Distillation: fit a small scikit-learn student to the baseline's outputs on recorded inputs, as ONNX.

The student learns from traffic, so the inputs it is fitted on are held out of the replay (the runner's
split, as for calibration) and it is judged only on the rest. Needs the optional extra ``inferwatch[distill]``
(scikit-learn and skl2onnx). Applies to models with one numeric input holding one row of features per request;
anything else (images, sequences, several inputs) is skipped with a note.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
import onnx

from shadow.errors import NotApplicableError
from shadow.tensors import Feed

Student = Literal["mlp", "gbt"]
_MIN_ROWS: Final = 50


def _features(model: onnx.ModelProto, feeds: Sequence[Feed]) -> tuple[str, np.ndarray]:
    """The one input's name and its rows, or NotApplicableError saying why the model does not fit."""
    initializers = {tensor.name for tensor in model.graph.initializer}
    inputs = [value for value in model.graph.input if value.name not in initializers]
    if len(inputs) != 1:
        raise NotApplicableError(f"distillation needs a model with one input, this one has {len(inputs)}")
    name = inputs[0].name
    if inputs[0].type.tensor_type.elem_type not in (onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE):
        raise NotApplicableError(f"distillation needs a float input of features, {name!r} is not one")
    shapes = {feed[name].shape for feed in feeds}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2 or next(iter(shapes))[0] != 1:
        raise NotApplicableError(f"distillation needs one row of features per request in {name!r}, got {shapes}")
    return name, np.concatenate([feed[name] for feed in feeds])


def _teacher(src: Path, name: str, rows: np.ndarray) -> tuple[bool, np.ndarray]:
    """Whether the baseline classifies, and what it predicts on ``rows`` (labels, or values)."""
    import onnxruntime

    from shadow.compare import infer_task, regression_output, top1_labels

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(str(src), options, providers=["CPUExecutionProvider"])
    values = session.run(None, {name: rows})
    outputs = {output.name: np.asarray(value) for output, value in zip(session.get_outputs(), values, strict=True)}
    if infer_task(outputs) == "classification":
        return True, top1_labels(outputs)
    target = regression_output(outputs)
    return False, target.reshape(len(rows), -1)[:, 0] if target.ndim > 1 and target.shape[1] == 1 else target


def distill_model(src: Path, dst: Path, student: Student, traffic: Sequence[Feed]) -> tuple[str, ...]:
    """Fit ``student`` on ``traffic`` against the baseline's outputs and write it to ``dst``; returns notes."""
    try:
        from skl2onnx import to_onnx
        from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType
        from sklearn.ensemble import GradientBoostingClassifier, GradientBoostingRegressor
        from sklearn.neural_network import MLPClassifier, MLPRegressor
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
    except ImportError as error:
        raise ImportError(f"distillation needs the extra: pip install 'inferwatch[distill]' ({error})") from None
    if len(traffic) < _MIN_ROWS:
        raise NotApplicableError(
            f"distillation needs at least {_MIN_ROWS} held-out recorded inputs, got {len(traffic)}"
        )
    name, rows = _features(onnx.load(str(src), load_external_data=False), traffic)
    classifies, target = _teacher(src, name, rows)
    if classifies and len(np.unique(target)) < 2:
        raise NotApplicableError("the baseline predicted one class on every held-out input: nothing to learn")
    estimator: Any
    if student == "mlp":
        kind = MLPClassifier if classifies else MLPRegressor
        estimator = make_pipeline(StandardScaler(), kind(hidden_layer_sizes=(32,), max_iter=500, random_state=0))
        what = f"{kind.__name__}(32 hidden units)"
    else:
        kind = GradientBoostingClassifier if classifies else GradientBoostingRegressor
        estimator = kind(n_estimators=50, max_depth=3, random_state=0)
        what = f"{kind.__name__}(50 trees of depth 3)"
    estimator.fit(rows, target)
    tensor = DoubleTensorType if rows.dtype == np.float64 else FloatTensorType
    proto = to_onnx(
        estimator,
        initial_types=[(name, tensor([None, rows.shape[1]]))],
        options={"zipmap": False} if classifies else None,
        target_opset={"": 17, "ai.onnx.ml": 3},
    )
    onnx.save(proto, str(dst))
    return (f"distilled: scikit-learn {what} fitted on {len(rows)} recorded inputs against the baseline's outputs",)
