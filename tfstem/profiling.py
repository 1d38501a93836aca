"""The arithmetic of a Keras model: multiply-adds per call for a given input shape.

The speed benchmarks divide a network's multiply-adds (MAC) on a frame by the time it took and by this machine's
sustained rate (``benchmarks/compute_limit.py``) to say how far a path is from the compute limit. Counting walks the
functional graph with the shapes of this call (not the ``None`` sizes the model was built with), so strided,
padded and "valid" layers are counted at their true sizes; nested functional and sequential models are walked too.

Counted, per output (or, for a transposed convolution, per input) position:

* ``Conv1D/2D/3D``: ``prod(kernel_size) * C_in / groups * filters``
* ``Conv1D/2D/3DTranspose``: ``prod(kernel_size) * C_in * filters`` per *input* position (each input pixel is
  scattered through the whole kernel)
* ``DepthwiseConv1D/2D``: ``prod(kernel_size) * C_in * depth_multiplier``
* ``SeparableConv1D/2D``: the depthwise part plus ``C_in * depth_multiplier * filters`` (pointwise)
* ``Dense``: ``C_in * units`` per position of the leading axes

Bias additions, activations, normalisation, pooling, resizing and other element-wise work are not counted: they
are a few operations per value against hundreds to thousands of MAC per pixel in these networks. A layer that
holds a kernel (a weight of rank >= 2) but is none of the above is reported by a warning and counted as 0.
"""

from __future__ import annotations

import math
import warnings

import keras
from keras import layers

__all__ = ["multiply_adds", "multiply_adds_by_layer", "multiply_adds_per_pixel"]


def _spatial(shape, data_format):
    return tuple(shape[1:-1]) if data_format == "channels_last" else tuple(shape[2:])


def _channels(shape, data_format):
    return shape[-1] if data_format == "channels_last" else shape[1]


def _layer_mac(layer, input_shape, output_shape) -> int | None:
    """MAC of one call of ``layer`` (None: not a layer whose multiply-adds are counted)."""
    transposed = (layers.Conv1DTranspose, layers.Conv2DTranspose, layers.Conv3DTranspose)
    depthwise = (layers.DepthwiseConv1D, layers.DepthwiseConv2D)
    separable = (layers.SeparableConv1D, layers.SeparableConv2D)
    dense_conv = (layers.Conv1D, layers.Conv2D, layers.Conv3D)
    if isinstance(layer, transposed + depthwise + separable + dense_conv):
        fmt = layer.data_format
        batch, c_in = input_shape[0], _channels(input_shape, fmt)
        kernel = math.prod(layer.kernel_size)
        if isinstance(layer, transposed):
            return batch * math.prod(_spatial(input_shape, fmt)) * kernel * c_in * layer.filters
        out_positions = batch * math.prod(_spatial(output_shape, fmt))
        if isinstance(layer, depthwise):
            return out_positions * kernel * c_in * layer.depth_multiplier
        if isinstance(layer, separable):
            return out_positions * c_in * layer.depth_multiplier * (kernel + layer.filters)
        return out_positions * kernel * (c_in // layer.groups) * layer.filters
    if isinstance(layer, layers.Dense):
        return math.prod(input_shape[:-1]) * input_shape[-1] * layer.units
    return None


def _history(tensor):
    operation, node_index, _ = tensor._keras_history
    return operation._inbound_nodes[node_index]


def _run_on_zeros(layer, args, kwargs):
    """Output specs of ``layer`` run on zeros: for a custom layer whose ``compute_output_shape`` leaves a
    size unknown that its inputs determine (its call computes it from ``tf.shape``)."""
    def zeros(value):
        return keras.ops.zeros(value.shape, value.dtype) if isinstance(value, keras.KerasTensor) else value

    outputs = layer(*keras.tree.map_structure(zeros, args), **keras.tree.map_structure(zeros, kwargs))
    return keras.tree.map_structure(lambda y: keras.KerasTensor(tuple(y.shape), dtype=y.dtype), outputs)


def _walkable(model) -> bool:
    return isinstance(model, keras.Model) and bool(getattr(model, "inputs", None)) and bool(
        getattr(model, "outputs", None))


def _walk(model, input_specs, counts, prefix):
    """Propagate ``input_specs`` (KerasTensors of concrete shape) through ``model``; append ``(name, MAC)``."""
    # the nodes of this graph, walking back from its outputs
    nodes, stack = {}, list(model.outputs)
    while stack:
        node = _history(stack.pop())
        if id(node) not in nodes:
            nodes[id(node)] = node
            stack.extend(node.input_tensors)
    values = {id(t): spec for t, spec in zip(model.inputs, input_specs)}
    pending = [node for node in nodes.values() if not node.is_input]
    while pending:
        ready = [node for node in pending if all(id(t) in values for t in node.input_tensors)]
        if not ready:
            raise ValueError(f"Cannot walk the graph of model {model.name!r}: a layer's input is not connected "
                             "to the model's inputs.")
        for node in ready:
            pending.remove(node)
            layer = node.operation
            args, kwargs = node.arguments.fill_in(values)
            name = f"{prefix}{layer.name}"
            if _walkable(layer):
                specs = keras.tree.flatten(args[0] if args else kwargs.get("inputs"))
                outputs = _walk(layer, specs, counts, name + "/")
            else:
                outputs = layer.compute_output_spec(*args, **kwargs)
                inputs = [t for t in keras.tree.flatten((args, kwargs)) if isinstance(t, keras.KerasTensor)]
                if any(None in t.shape for t in keras.tree.flatten(outputs)):
                    outputs = _run_on_zeros(layer, args, kwargs)
                first_out = keras.tree.flatten(outputs)[0]
                mac = _layer_mac(layer, tuple(inputs[0].shape), tuple(first_out.shape)) if inputs else None
                if mac is not None:
                    counts.append((name, int(mac)))
                elif any(len(w.shape) >= 2 for w in layer.weights):
                    warnings.warn(f"multiply_adds: layer {name!r} ({type(layer).__name__}) holds a kernel but its "
                                  "multiply-adds are not counted (counted as 0).", stacklevel=3)
            for reference, value in zip(node.outputs, keras.tree.flatten(outputs)):
                values[id(reference)] = value
    return [values[id(t)] for t in model.outputs]


def _input_specs(model, input_shape):
    if not _walkable(model):
        raise ValueError(f"model must be a functional or sequential keras.Model with known inputs; received "
                         f"{type(model).__name__} {getattr(model, 'name', '')!r}.")
    shapes = [input_shape] if len(model.inputs) == 1 else list(input_shape)
    if len(shapes) != len(model.inputs) or not all(isinstance(s, (tuple, list)) for s in shapes):
        raise ValueError(f"input_shape must be one shape per model input ({len(model.inputs)}), e.g. "
                         f"(1, 256, 256, 1); received input_shape={input_shape!r}.")
    specs = []
    for reference, shape in zip(model.inputs, shapes):
        shape = tuple(int(s) for s in shape)
        expected = tuple(reference.shape)
        if len(shape) != len(expected) or any(e is not None and e != s for e, s in zip(expected, shape)):
            raise ValueError(f"input_shape {shape} does not fit the model's input {expected} (the batch axis "
                             f"included, e.g. (1, 256, 256, {expected[-1]})); received input_shape={input_shape!r}.")
        specs.append(keras.KerasTensor(shape, dtype=reference.dtype))
    return specs


def multiply_adds_by_layer(model: keras.Model, input_shape) -> dict[str, int]:
    """Multiply-adds of each counted layer call of ``model`` on an input of ``input_shape``.

    Parameters
    ----------
    model : keras.Model
        A functional or sequential model; nested functional or sequential models are walked.
    input_shape : tuple of int, or list of tuples
        Full input shape, batch axis included, e.g. ``(1, 256, 256, 1)``; one per input for several inputs.

    Returns
    -------
    dict of str to int
        ``"outer/inner/layer"`` name -> MAC of that call (a layer called twice appears as ``name#2``).

    Raises
    ------
    ValueError
        When ``model`` has no functional graph or ``input_shape`` does not fit its inputs.

    Examples
    --------
    >>> import keras
    >>> x = keras.Input((None, None, 2))
    >>> model = keras.Model(x, keras.layers.Conv2D(4, 3, padding="same", name="conv")(x))
    >>> multiply_adds_by_layer(model, (1, 8, 8, 2))
    {'conv': 4608}
    """
    counts = []
    _walk(model, _input_specs(model, input_shape), counts, "")
    result = {}
    for name, mac in counts:
        key, n = name, 1
        while key in result:
            n += 1
            key = f"{name}#{n}"
        result[key] = mac
    return result


def multiply_adds(model: keras.Model, input_shape) -> int:
    """Multiply-adds (MAC) of one call of ``model`` on an input of ``input_shape``; FLOP = 2 x MAC.

    Convolutions (plain, grouped, transposed, depthwise, separable) and dense layers are counted at the
    sizes of this call; see :mod:`tfstem.profiling` for the formulas and what is left out.

    Parameters
    ----------
    model : keras.Model
        A functional or sequential model (built from ``keras.Input``); nested models are walked.
    input_shape : tuple of int, or list of tuples
        Full input shape, batch axis included, e.g. ``(1, 256, 256, 1)``; one per input for several inputs.

    Returns
    -------
    int
        Multiply-adds of the whole call (all images of the batch).

    Raises
    ------
    ValueError
        When ``model`` has no functional graph or ``input_shape`` does not fit its inputs.

    Examples
    --------
    >>> import keras
    >>> x = keras.Input((None, None, 1))
    >>> y = keras.layers.Conv2D(8, 3, padding="same")(x)
    >>> model = keras.Model(x, keras.layers.Conv2D(1, 1)(y))
    >>> multiply_adds(model, (1, 16, 16, 1))  # 256 px x (9 x 1 x 8 + 8 x 1)
    20480

    References
    ----------
    The count used for FLOP tables of CNNs, e.g. Molchanov et al., "Pruning convolutional neural networks for
    resource efficient inference", ICLR 2017, Appendix A (FLOP = 2 x MAC, bias and activations left out).
    """
    return sum(multiply_adds_by_layer(model, input_shape).values())


def multiply_adds_per_pixel(model: keras.Model, input_shape) -> float:
    """Multiply-adds per input pixel: :func:`multiply_adds` over ``N x H x W`` of the (first) input.

    Parameters
    ----------
    model : keras.Model
        As :func:`multiply_adds`.
    input_shape : tuple of int
        ``(N, H, W, C)`` (channels last) of the first input, or a list of shapes.

    Returns
    -------
    float
        MAC per pixel of one image (channels not divided out).

    Examples
    --------
    >>> import keras
    >>> x = keras.Input((None, None, 1))
    >>> model = keras.Model(x, keras.layers.Conv2D(8, 3, padding="same")(x))
    >>> multiply_adds_per_pixel(model, (2, 16, 16, 1))
    72.0
    """
    first = input_shape if len(getattr(model, "inputs", None) or [0]) == 1 else input_shape[0]
    return multiply_adds(model, input_shape) / math.prod(first[:-1])
