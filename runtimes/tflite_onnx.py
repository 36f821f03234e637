"""TFLite -> ONNX for the float convolution graphs MediaPipe ships (BlazePose's detector and landmarks).

The registry's converters do not take these graphs: tflite2onnx 0.4.1 has no DENSIFY (the detector's
sparse weights) and fails on the landmark model's PAD; tf2onnx 1.17 (with TensorFlow) reads a sparse
buffer as if it were dense and stops on the detector (docs/experiments/blazepose-backends.md). This
converter covers the ops of those graphs (and a few neighbours) and names any other it meets.

Constants (fp16 weights behind DEQUANTIZE, sparse ones behind DENSIFY) are folded to float32 at
conversion. TFLite is NHWC and ONNX's Conv is NCHW: the graph transposes its input once, runs NCHW
inside, and transposes back where the TFLite semantics need NHWC (RESHAPE, 4-D outputs), so the ONNX
file has the TFLite file's input and output names and shapes.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import onnx
import tflite
from onnx import TensorProto, helper, numpy_helper

from .manifest import BundleError

OPSET = 17
TO_NCHW, TO_NHWC = [0, 3, 1, 2], [0, 2, 3, 1]
NHWC_AXIS_IN_NCHW = [0, 2, 3, 1]  # NHWC axis i is NCHW axis NHWC_AXIS_IN_NCHW[i]
DTYPES = {tflite.TensorType.FLOAT32: np.float32, tflite.TensorType.FLOAT16: np.float16,
          tflite.TensorType.INT32: np.int32, tflite.TensorType.INT64: np.int64,
          tflite.TensorType.UINT8: np.uint8, tflite.TensorType.INT8: np.int8}


class TFLiteConversionError(BundleError):
    """The file is not a TFLite model this converter takes; the message names the file and the cause."""


def tensor_dtype(code: int) -> np.dtype:
    if code not in DTYPES:
        raise NotImplementedError(f"tensor type {code}")
    return np.dtype(DTYPES[code])


def index_vector(table, kind: int) -> np.ndarray:
    """A SparseIndexVector union member (int32, uint16 or uint8 values) as int64."""
    vector = {tflite.SparseIndexVector.Int32Vector: tflite.Int32Vector,
              tflite.SparseIndexVector.Uint16Vector: tflite.Uint16Vector,
              tflite.SparseIndexVector.Uint8Vector: tflite.Uint8Vector}[kind]()
    vector.Init(table.Bytes, table.Pos)
    return vector.ValuesAsNumpy().astype(np.int64)


def densify(values: np.ndarray, shape: list[int], sparsity) -> np.ndarray:
    """TFLite's sparse tensor format (per-dimension DENSE or SPARSE_CSR, no blocks) to a dense array."""
    order = sparsity.TraversalOrderAsNumpy().tolist()
    if sparsity.BlockMapLength() or sorted(order) != list(range(len(shape))):
        raise NotImplementedError("block-sparse tensors")
    positions = np.zeros(1, np.int64)  # index into the next level (finally: into `values`)
    coords: list[np.ndarray] = []  # per traversed dimension, the coordinate of each position
    for level in range(sparsity.DimMetadataLength()):
        meta = sparsity.DimMetadata(level)
        if meta.Format() == 0:  # DENSE
            size = meta.DenseSize()
            coords = [np.repeat(c, size) for c in coords] + [np.tile(np.arange(size), len(positions))]
            positions = (positions[:, None] * size + np.arange(size)).reshape(-1)
        else:  # SPARSE_CSR: the children of position p are segments[p]:segments[p + 1]
            segments = index_vector(meta.ArraySegments(), meta.ArraySegmentsType())
            indices = index_vector(meta.ArrayIndices(), meta.ArrayIndicesType())
            starts, counts = segments[positions], segments[positions + 1] - segments[positions]
            coords = [np.repeat(c, counts) for c in coords]
            positions = np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())
            coords.append(indices[positions])
    dense = np.zeros(shape, values.dtype)
    dense[tuple(coords[order.index(d)] for d in range(len(shape)))] = values[positions]
    return dense


def same_pads(size: list[int], kernel: list[int], strides: list[int], dilations: list[int]) -> list[int]:
    """TensorFlow's SAME padding as ONNX pads [begin..., end...] (the extra pixel goes at the end)."""
    begin, end = [], []
    for n, k, s, d in zip(size, kernel, strides, dilations):
        total = max((math.ceil(n / s) - 1) * s + (k - 1) * d + 1 - n, 0)
        begin.append(total // 2)
        end.append(total - total // 2)
    return begin + end


class Converter:
    """One subgraph of a parsed TFLite model to an ONNX graph."""

    def __init__(self, model, source: Path):
        self.model, self.source = model, source
        self.graph = model.Subgraphs(0)
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[TensorProto] = []
        self.names: dict[int, str] = {}  # tensor index -> ONNX value name
        self.nchw: set[int] = set()  # 4-D activations held in NCHW
        self.constants: dict[int, np.ndarray] = {}
        self.counter = 0

    # --- tensors -------------------------------------------------------------------------------
    def shape(self, index: int) -> list[int]:
        return self.graph.Tensors(index).ShapeAsNumpy().tolist()

    def constant(self, index: int) -> np.ndarray | None:
        """The value of a constant tensor (folded DEQUANTIZE/DENSIFY outputs included), else None."""
        if index in self.constants:
            return self.constants[index]
        tensor = self.graph.Tensors(index)
        buffer = self.model.Buffers(tensor.Buffer())
        if tensor.Buffer() == 0 or buffer is None or buffer.DataLength() == 0:
            return None
        values = np.frombuffer(buffer.DataAsNumpy().tobytes(), tensor_dtype(tensor.Type()))
        shape = tensor.ShapeAsNumpy().tolist() if tensor.ShapeLength() else []
        sparsity = tensor.Sparsity()
        self.constants[index] = densify(values, shape, sparsity) if sparsity is not None else values.reshape(shape)
        return self.constants[index]

    def fresh(self, hint: str) -> str:
        self.counter += 1
        return f"{hint}_{self.counter}"

    def initializer(self, array: np.ndarray, hint: str) -> str:
        name = self.fresh(hint)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(self, op: str, inputs: list[str], output: str | None = None, **attrs) -> str:
        output = output or self.fresh(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [output], name=output, **attrs))
        return output

    def value(self, index: int, layout: str) -> str:
        """The ONNX name of tensor `index` in `layout` ("nchw" or "nhwc"), transposing if needed."""
        constant = self.constant(index)
        if constant is not None:
            return self.initializer(constant.transpose(TO_NCHW) if layout == "nchw" and constant.ndim == 4
                                    else constant, "const")
        name = self.names[index]
        if layout == "nhwc" and index in self.nchw:
            return self.node("Transpose", [name], perm=TO_NHWC)
        if layout == "nchw" and index not in self.nchw and len(self.shape(index)) == 4:
            return self.node("Transpose", [name], perm=TO_NCHW)
        return name

    def fused(self, op: str, inputs: list[str], activation: int, output: str, **attrs) -> None:
        """`op` followed by TFLite's fused activation."""
        kinds = tflite.ActivationFunctionType
        if activation == kinds.NONE:
            self.node(op, inputs, output, **attrs)
            return
        x = self.node(op, inputs, **attrs)
        if activation == kinds.RELU:
            self.node("Relu", [x], output)
        elif activation in (kinds.RELU6, kinds.RELU_N1_TO_1):
            low, high = (0.0, 6.0) if activation == kinds.RELU6 else (-1.0, 1.0)
            self.node("Clip", [x, self.initializer(np.float32(low), "min"), self.initializer(np.float32(high), "max")],
                      output)
        elif activation == kinds.TANH:
            self.node("Tanh", [x], output)
        else:
            raise NotImplementedError(f"fused activation {activation}")

    # --- ops -------------------------------------------------------------------------------------
    def options(self, op, cls):
        table = op.BuiltinOptions()
        options = cls()
        if table is not None:
            options.Init(table.Bytes, table.Pos)
        return options

    def convert_op(self, op, name: str) -> None:
        ins = [op.Inputs(i) for i in range(op.InputsLength())]
        out = op.Outputs(0)
        result = f"t{out}"
        if name in ("DEQUANTIZE", "DENSIFY"):
            value = self.constant(ins[0])
            if value is None:
                raise NotImplementedError(f"{name} of a non-constant tensor")
            if name == "DEQUANTIZE" and value.dtype != np.float16:
                raise NotImplementedError("DEQUANTIZE of an integer-quantized tensor")
            self.constants[out] = value.astype(np.float32) if name == "DEQUANTIZE" else value
            return
        if name in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            depthwise = name == "DEPTHWISE_CONV_2D"
            o = self.options(op, tflite.DepthwiseConv2DOptions if depthwise else tflite.Conv2DOptions)
            weights = self.constant(ins[1])
            if weights is None:
                raise NotImplementedError(f"{name} with non-constant weights")
            # TFLite: OHWI (conv), 1HW(C*multiplier) (depthwise); ONNX: OIHW, groups = input channels
            weights = weights.transpose(3, 0, 1, 2) if depthwise else weights.transpose(0, 3, 1, 2)
            strides, dilations = [o.StrideH(), o.StrideW()], [o.DilationHFactor(), o.DilationWFactor()]
            pads = self.pads(o.Padding(), self.shape(ins[0])[1:3], list(weights.shape[2:]), strides, dilations)
            inputs = [self.value(ins[0], "nchw"), self.initializer(weights, "weights")]
            if len(ins) > 2 and ins[2] >= 0:
                inputs.append(self.value(ins[2], "plain"))
            group = self.shape(ins[0])[3] if depthwise else 1
            self.fused("Conv", inputs, o.FusedActivationFunction(), result, strides=strides, dilations=dilations,
                       pads=pads, group=group, kernel_shape=list(weights.shape[2:]))
        elif name == "MAX_POOL_2D":
            o = self.options(op, tflite.Pool2DOptions)
            kernel, strides = [o.FilterHeight(), o.FilterWidth()], [o.StrideH(), o.StrideW()]
            self.fused("MaxPool", [self.value(ins[0], "nchw")], o.FusedActivationFunction(), result,
                       kernel_shape=kernel, strides=strides,
                       pads=self.pads(o.Padding(), self.shape(ins[0])[1:3], kernel, strides, [1, 1]))
        elif name == "ADD":
            o = self.options(op, tflite.AddOptions)
            if any(self.constant(i) is not None for i in ins) or self.shape(ins[0]) != self.shape(ins[1]):
                raise NotImplementedError("ADD with a constant or broadcast operand")
            layout = "nchw" if len(self.shape(ins[0])) == 4 else "plain"
            self.fused("Add", [self.value(ins[0], layout), self.value(ins[1], layout)], o.FusedActivationFunction(),
                       result)
        elif name == "PAD":
            paddings = self.constant(ins[1])
            if paddings is None or len(self.shape(ins[0])) != 4:
                raise NotImplementedError("PAD with non-constant paddings or a non-4-D input")
            paddings = paddings[TO_NCHW]
            pads = self.initializer(np.concatenate([paddings[:, 0], paddings[:, 1]]).astype(np.int64), "pads")
            self.node("Pad", [self.value(ins[0], "nchw"), pads], result, mode="constant")
        elif name == "DEPTH_TO_SPACE":  # TensorFlow's channel order is ONNX's DCR mode
            o = self.options(op, tflite.DepthToSpaceOptions)
            self.node("DepthToSpace", [self.value(ins[0], "nchw")], result, blocksize=o.BlockSize(), mode="DCR")
        elif name == "RESIZE_BILINEAR":
            o = self.options(op, tflite.ResizeBilinearOptions)
            size = self.constant(ins[1])
            if size is None:
                raise NotImplementedError("RESIZE_BILINEAR to a non-constant size")
            n, _, _, c = self.shape(ins[0])
            sizes = self.initializer(np.array([n, c, *size.tolist()], np.int64), "sizes")
            mode = "align_corners" if o.AlignCorners() else "half_pixel" if o.HalfPixelCenters() else "asymmetric"
            self.node("Resize", [self.value(ins[0], "nchw"), "", "", sizes], result, mode="linear",
                      coordinate_transformation_mode=mode)
        elif name == "RESHAPE":
            shape = self.initializer(np.array(self.shape(out), np.int64), "shape")
            self.node("Reshape", [self.value(ins[0], "nhwc"), shape], result)
        elif name == "CONCATENATION":
            o = self.options(op, tflite.ConcatenationOptions)
            rank = len(self.shape(out))
            axis = o.Axis() % rank
            layout = "nchw" if rank == 4 else "plain"
            self.fused("Concat", [self.value(i, layout) for i in ins], o.FusedActivationFunction(), result,
                       axis=NHWC_AXIS_IN_NCHW[axis] if rank == 4 else axis)
        elif name == "LOGISTIC":
            layout = "nchw" if len(self.shape(ins[0])) == 4 else "plain"
            self.node("Sigmoid", [self.value(ins[0], layout)], result)
        else:
            raise NotImplementedError(f"op {name}")
        self.names[out] = result
        if len(self.shape(out)) == 4 and name != "RESHAPE":  # a RESHAPE's result is NHWC-ordered
            self.nchw.add(out)

    def pads(self, padding: int, size: list[int], kernel: list[int], strides: list[int],
             dilations: list[int]) -> list[int]:
        if padding == tflite.Padding.VALID:
            return [0, 0, 0, 0]
        return same_pads(size, kernel, strides, dilations)

    def convert(self) -> onnx.ModelProto:
        graph = self.graph
        opnames = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
        inputs, outputs = [], []
        for i in range(graph.InputsLength()):
            index = graph.Inputs(i)
            tensor = graph.Tensors(index)
            name = tensor.Name().decode()
            inputs.append(helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(
                tensor_dtype(tensor.Type())), self.shape(index)))
            self.names[index] = name
        for i in range(graph.OperatorsLength()):
            op = graph.Operators(i)
            code = self.model.OperatorCodes(op.OpcodeIndex())
            name = opnames.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()), "CUSTOM")
            try:
                self.convert_op(op, name)
            except NotImplementedError as err:
                raise TFLiteConversionError(f"{self.source}: operator {i} ({name}) is not supported by this "
                                            f"converter: {err}") from None
        for i in range(graph.OutputsLength()):
            index = graph.Outputs(i)
            tensor = graph.Tensors(index)
            name = tensor.Name().decode()
            self.node("Identity", [self.value(index, "nhwc")], name)
            outputs.append(helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(
                tensor_dtype(tensor.Type())), self.shape(index)))
        onnx_graph = helper.make_graph(self.nodes, self.source.stem, inputs, outputs, self.initializers)
        model = helper.make_model(onnx_graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                  producer_name="edgetokens runtimes.tflite_onnx")
        model.ir_version = 8  # not the installed onnx's newest: older runtimes (JetPack's) read it too
        return model


def convert_tflite(tflite_path: str | Path) -> onnx.ModelProto:
    """The ONNX model of a TFLite file; TFLiteConversionError names the file when it cannot be converted."""
    path = Path(tflite_path)
    data = path.read_bytes()  # FileNotFoundError names the file
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise TFLiteConversionError(f"{path} is not a TFLite model (no TFL3 identifier); check the file")
    try:
        model = tflite.Model.GetRootAsModel(data, 0)
        if model.SubgraphsLength() != 1:
            raise TFLiteConversionError(f"{path} has {model.SubgraphsLength()} subgraphs; this converter "
                                        "takes single-graph models")
        onnx_model = Converter(model, path).convert()
    except TFLiteConversionError:
        raise
    except Exception as err:  # a damaged flatbuffer fails anywhere in the generated reader
        raise TFLiteConversionError(f"{path} is corrupt or truncated (reading it failed: "
                                    f"{type(err).__name__}: {err}); restore the file") from err
    onnx.checker.check_model(onnx_model, full_check=True)
    return onnx_model

