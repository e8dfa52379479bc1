"""Structured pruning: remove the hidden units of a MatMul/Gemm chain that contribute least on recorded traffic.

A hidden unit is a column of a layer's weight (and its bias entry) and the matching row of the next layer's
weight. Its importance is its mean absolute activation on the recorded inputs times the L2 norm of its row
in the next layer: how much it moves the next layer's input (activation-based, as in Hu et al. 2016
"Network Trimming" and Molchanov et al. 2019). Removing whole units leaves a smaller dense model, which is
faster on CPU; zeroing single weights (unstructured pruning) is not, since dense kernels multiply the zeros.
Judged like every other variant: against the baseline on replayed traffic the pruning never saw.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import onnx
from onnx import numpy_helper

from shadow.errors import NotApplicableError
from shadow.tensors import Array, Feed, stack_feeds

# Element-wise activations between two layers: they keep units apart, so a unit can be removed on its own.
_ACTIVATIONS: Final = frozenset({"Relu", "LeakyRelu", "Tanh", "Sigmoid", "Elu", "Selu", "Softplus", "Gelu"})


@dataclass(frozen=True)
class HiddenLayer:
    """One prunable layer: weight ``weight`` (units on ``weight_axis``), optional bias, and the next weight."""

    weight: str
    weight_axis: int
    bias: str | None
    activation: str
    next_weight: str
    next_axis: int


def _attribute(node: onnx.NodeProto, name: str, default: int) -> int:
    return next((int(a.i) for a in node.attribute if a.name == name), default)


def find_hidden_layers(model: onnx.ModelProto) -> list[HiddenLayer]:
    """Every MatMul/Gemm -> [Add bias] -> activation -> MatMul/Gemm step whose weights are initializers."""
    weights = {t.name: t for t in model.graph.initializer}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    outputs = {value.name for value in model.graph.output}

    def only_consumer(name: str) -> onnx.NodeProto | None:
        found = consumers.get(name, [])
        return found[0] if len(found) == 1 and name not in outputs else None

    def layer_weight(node: onnx.NodeProto, data_input: str) -> tuple[str, int] | None:
        """The node's 2-D weight initializer and the axis its output units are on, if it is a plain layer."""
        if node.op_type == "MatMul" and node.input[0] == data_input and node.input[1] in weights:
            return (node.input[1], 1) if len(weights[node.input[1]].dims) == 2 else None
        if node.op_type == "Gemm" and node.input[0] == data_input and node.input[1] in weights:
            if _attribute(node, "transA", 0) or len(weights[node.input[1]].dims) != 2:
                return None
            return node.input[1], 0 if _attribute(node, "transB", 0) else 1
        return None

    layers = []
    for node in model.graph.node:
        found = layer_weight(node, node.input[0]) if node.input else None
        if found is None:
            continue
        weight, axis = found
        units = weights[weight].dims[axis]
        bias = node.input[2] if node.op_type == "Gemm" and len(node.input) > 2 and node.input[2] else None
        current = node.output[0]
        step = only_consumer(current)
        if step is not None and step.op_type == "Add" and bias is None:
            other = step.input[1] if step.input[0] == current else step.input[0]
            if other in weights and int(np.prod(weights[other].dims)) == units:
                bias, current = other, step.output[0]
                step = only_consumer(current)
        if bias is not None and int(np.prod(weights[bias].dims)) != units:
            continue  # a broadcast bias (one value for every unit) cannot be cut per unit
        if step is None or step.op_type not in _ACTIVATIONS:
            continue
        activation = step.output[0]
        following = only_consumer(activation)
        found_next = layer_weight(following, activation) if following is not None else None
        if found_next is None:
            continue
        next_weight, next_out_axis = found_next
        layers.append(HiddenLayer(weight, axis, bias, activation, next_weight, 1 - next_out_axis))
    return layers


def _activations(model: onnx.ModelProto, names: Sequence[str], feeds: Sequence[Feed]) -> list[Array]:
    """The named intermediate values on the recorded inputs, one row per input."""
    import onnxruntime

    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    del probe.graph.output[:]
    probe.graph.output.extend(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None) for name in names)
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(probe.SerializeToString(), options, providers=["CPUExecutionProvider"])
    try:
        batches = [stack_feeds(feeds)]
    except ValueError:
        batches = list(feeds)
    runs = [session.run(list(names), batch) for batch in batches]
    return [
        np.concatenate([np.asarray(run[i]).reshape(-1, np.asarray(run[i]).shape[-1]) for run in runs])
        for i in range(len(names))
    ]


def prune_model(src: Path, dst: Path, ratio: float, calibration: Sequence[Feed]) -> tuple[str, ...]:
    """Write ``src`` with ``ratio`` of each hidden layer's units removed to ``dst``; returns notes.

    NotApplicableError when the graph has no hidden layer to prune or there is no traffic to rank units on.
    """
    if not 0 < ratio < 1:
        raise ValueError(f"`ratio` must be in (0, 1), got {ratio}")
    model = onnx.load(str(src))
    layers = find_hidden_layers(model)
    if not layers:
        raise NotApplicableError(
            "no chain of MatMul/Gemm layers with an element-wise activation between them: nothing to prune"
        )
    if not calibration:
        raise NotApplicableError("no recorded inputs to rank hidden units on")
    weights = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    values = _activations(model, [layer.activation for layer in layers], calibration)
    keep_columns: dict[str, Array] = {}  # weight or bias name -> units kept along its unit axis
    keep_rows: dict[str, Array] = {}  # next weight name -> input rows kept
    notes = []
    for layer, activation in zip(layers, values, strict=True):
        units = activation.shape[-1]
        nxt = weights[layer.next_weight]
        outgoing = np.linalg.norm(nxt if layer.next_axis == 0 else nxt.T, axis=1)
        importance = np.abs(activation).mean(axis=0) * outgoing
        kept = max(1, math.ceil(units * (1 - ratio)))
        chosen = np.sort(np.argsort(-importance, kind="stable")[:kept])
        keep_columns[layer.weight] = chosen
        if layer.bias is not None:
            keep_columns[layer.bias] = chosen
        keep_rows[layer.next_weight] = chosen
        notes.append(f"{layer.weight}: {units} -> {kept} units")
    unit_axis = {layer.weight: layer.weight_axis for layer in layers}
    row_axis = {layer.next_weight: layer.next_axis for layer in layers}
    for tensor in model.graph.initializer:
        array = weights[tensor.name]
        if tensor.name in unit_axis:
            array = np.take(array, keep_columns[tensor.name], axis=unit_axis[tensor.name])
        elif tensor.name in keep_columns:  # a bias: one entry per unit, whatever its leading 1s
            array = array.reshape(-1)[keep_columns[tensor.name]].reshape(*array.shape[:-1], -1)
        if tensor.name in row_axis:  # a middle layer's weight loses rows here and columns above
            array = np.take(array, keep_rows[tensor.name], axis=row_axis[tensor.name])
        if array.shape != weights[tensor.name].shape:
            tensor.CopyFrom(numpy_helper.from_array(np.ascontiguousarray(array), tensor.name))
    # Shapes recorded for the old widths would contradict the new weights; ORT infers them again.
    del model.graph.value_info[:]
    onnx.checker.check_model(model)
    onnx.save(model, str(dst))
    return (
        f"structured pruning of {ratio:.0%} of hidden units per layer, ranked by mean |activation| x outgoing "
        f"weight norm on {len(calibration)} recorded inputs (held out of the replay)",
        *notes,
    )
