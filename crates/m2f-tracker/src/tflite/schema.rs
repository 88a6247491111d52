//! The parts of TensorFlow Lite's model schema (`tensorflow/lite/schema/schema.fbs`) that the
//! MediaPipe face models use, read into plain structs: tensors, buffers, operators and their
//! options. Field indices follow the schema's declaration order.

use super::flatbuffer::{FbResult, Table};

/// A tensor's element type (`TensorType` in the schema).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TensorType {
    /// `FLOAT32`.
    F32,
    /// `FLOAT16`.
    F16,
    /// `INT32`.
    I32,
    /// Any other type, by its schema number.
    Other(i8),
}

/// One tensor of the graph: an activation, or a constant backed by a buffer.
#[derive(Debug, Clone)]
pub struct TensorDef {
    /// Its name in the graph, for messages.
    pub name: String,
    /// Its shape (TFLite activations are NHWC).
    pub shape: Vec<usize>,
    /// Its element type.
    pub dtype: TensorType,
    /// Index into the model's buffers; buffer 0 is the empty buffer of activations.
    pub buffer: usize,
}

/// How a convolution or pooling window meets the border (`Padding` in the schema).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Padding {
    /// Output size `ceil(in / stride)`, zeros added (more after than before when odd).
    Same,
    /// No padding: output size `ceil((in - window + 1) / stride)`.
    Valid,
}

/// The activation fused into an operator (`ActivationFunctionType` in the schema).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// None.
    None,
    /// `max(x, 0)`.
    Relu,
    /// `clamp(x, -1, 1)`.
    ReluN1To1,
    /// `clamp(x, 0, 6)`.
    Relu6,
    /// `tanh(x)`.
    Tanh,
}

/// Window geometry shared by convolutions and pooling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Border handling.
    pub padding: Padding,
    /// Step along the height.
    pub stride_h: usize,
    /// Step along the width.
    pub stride_w: usize,
    /// Dilation along the height (1 for a plain window).
    pub dilation_h: usize,
    /// Dilation along the width.
    pub dilation_w: usize,
}

/// An operator with its options, for the operators this interpreter runs.
#[derive(Debug, Clone)]
pub enum OpKind {
    /// `ADD`.
    Add {
        /// Fused activation.
        act: Activation,
    },
    /// `CONCATENATION` along `axis` (negative counts from the end).
    Concatenation {
        /// The axis.
        axis: i32,
        /// Fused activation.
        act: Activation,
    },
    /// `CONV_2D`: inputs (input NHWC, filter OHWI, bias).
    Conv2d {
        /// Window geometry.
        window: Window,
        /// Fused activation.
        act: Activation,
    },
    /// `DEPTHWISE_CONV_2D`: inputs (input NHWC, filter 1HW(C·m), bias).
    DepthwiseConv2d {
        /// Window geometry.
        window: Window,
        /// Output channels per input channel.
        depth_multiplier: usize,
        /// Fused activation.
        act: Activation,
    },
    /// `DEQUANTIZE` (here: float16 constants to float32).
    Dequantize,
    /// `MAX_POOL_2D`.
    MaxPool2d {
        /// Window geometry (dilation 1).
        window: Window,
        /// Window height.
        filter_h: usize,
        /// Window width.
        filter_w: usize,
        /// Fused activation.
        act: Activation,
    },
    /// `PAD`: inputs (input, paddings `[rank, 2]` int32), zeros.
    Pad,
    /// `PRELU`: inputs (input, alpha broadcast against it).
    Prelu,
    /// `RELU`.
    Relu,
    /// `RESHAPE`.
    Reshape,
    /// Any other builtin operator, by its schema number (rejected when the graph is built).
    Other(i32),
}

/// One operator of the graph.
#[derive(Debug, Clone)]
pub struct OperatorDef {
    /// What it computes.
    pub kind: OpKind,
    /// Input tensor indices (`-1` for an omitted optional input).
    pub inputs: Vec<i32>,
    /// Output tensor indices.
    pub outputs: Vec<i32>,
}

/// The first subgraph of a TFLite model, with the model's buffers.
#[derive(Debug, Clone)]
pub struct ModelDef<'a> {
    /// All tensors.
    pub tensors: Vec<TensorDef>,
    /// Operators in execution order.
    pub operators: Vec<OperatorDef>,
    /// Graph input tensor indices.
    pub inputs: Vec<usize>,
    /// Graph output tensor indices.
    pub outputs: Vec<usize>,
    /// Buffer contents (empty for activations).
    pub buffers: Vec<&'a [u8]>,
}

/// Builtin operator numbers (`BuiltinOperator` in the schema).
mod code {
    pub const ADD: i32 = 0;
    pub const CONCATENATION: i32 = 2;
    pub const CONV_2D: i32 = 3;
    pub const DEPTHWISE_CONV_2D: i32 = 4;
    pub const DEQUANTIZE: i32 = 6;
    pub const MAX_POOL_2D: i32 = 17;
    pub const RELU: i32 = 19;
    pub const RESHAPE: i32 = 22;
    pub const PAD: i32 = 34;
    pub const PRELU: i32 = 54;
}

/// A builtin operator's schema name, for messages.
pub fn op_name(code: i32) -> String {
    let known = [
        (code::ADD, "ADD"),
        (code::CONCATENATION, "CONCATENATION"),
        (code::CONV_2D, "CONV_2D"),
        (code::DEPTHWISE_CONV_2D, "DEPTHWISE_CONV_2D"),
        (code::DEQUANTIZE, "DEQUANTIZE"),
        (code::MAX_POOL_2D, "MAX_POOL_2D"),
        (code::RELU, "RELU"),
        (code::RESHAPE, "RESHAPE"),
        (code::PAD, "PAD"),
        (code::PRELU, "PRELU"),
    ];
    known.iter().find(|(c, _)| *c == code).map_or_else(
        || format!("builtin operator {code}"),
        |(_, n)| (*n).to_string(),
    )
}

fn padding(t: &Table, index: usize) -> FbResult<Padding> {
    match t.scalar::<i8>(index, "padding", 0)? {
        0 => Ok(Padding::Same),
        1 => Ok(Padding::Valid),
        p => Err(format!("padding {p} is neither SAME (0) nor VALID (1)")),
    }
}

fn activation(t: &Table, index: usize) -> FbResult<Activation> {
    match t.scalar::<i8>(index, "fused_activation_function", 0)? {
        0 => Ok(Activation::None),
        1 => Ok(Activation::Relu),
        2 => Ok(Activation::ReluN1To1),
        3 => Ok(Activation::Relu6),
        4 => Ok(Activation::Tanh),
        a => Err(format!(
            "fused activation {a} is not supported (NONE, RELU, RELU_N1_TO_1, RELU6, TANH)"
        )),
    }
}

fn positive(t: &Table, index: usize, field: &str, default: i32) -> FbResult<usize> {
    let v = t.scalar::<i32>(index, field, default)?;
    usize::try_from(v)
        .ok()
        .filter(|&v| v > 0)
        .ok_or_else(|| format!("{field} is {v}, expected > 0"))
}

/// The options table of an operator, which must be present for operators that need one.
fn options<'a>(op: &Table<'a>, name: &'static str) -> FbResult<Table<'a>> {
    op.table(4, "builtin_options", name)?
        .ok_or_else(|| format!("{name} missing"))
}

fn op_kind(code: i32, op: &Table) -> FbResult<OpKind> {
    Ok(match code {
        code::ADD => {
            let act = match op.table(4, "builtin_options", "AddOptions")? {
                Some(o) => activation(&o, 0)?,
                None => Activation::None,
            };
            OpKind::Add { act }
        }
        code::CONCATENATION => {
            let o = options(op, "ConcatenationOptions")?;
            OpKind::Concatenation {
                axis: o.scalar(0, "axis", 0)?,
                act: activation(&o, 1)?,
            }
        }
        code::CONV_2D => {
            let o = options(op, "Conv2DOptions")?;
            let window = Window {
                padding: padding(&o, 0)?,
                stride_w: positive(&o, 1, "stride_w", 1)?,
                stride_h: positive(&o, 2, "stride_h", 1)?,
                dilation_w: positive(&o, 4, "dilation_w_factor", 1)?,
                dilation_h: positive(&o, 5, "dilation_h_factor", 1)?,
            };
            OpKind::Conv2d {
                window,
                act: activation(&o, 3)?,
            }
        }
        code::DEPTHWISE_CONV_2D => {
            let o = options(op, "DepthwiseConv2DOptions")?;
            let window = Window {
                padding: padding(&o, 0)?,
                stride_w: positive(&o, 1, "stride_w", 1)?,
                stride_h: positive(&o, 2, "stride_h", 1)?,
                dilation_w: positive(&o, 5, "dilation_w_factor", 1)?,
                dilation_h: positive(&o, 6, "dilation_h_factor", 1)?,
            };
            // Version 1 files may leave the multiplier at 0; it is then implied by the shapes.
            let m = o.scalar::<i32>(3, "depth_multiplier", 1)?.max(1) as usize;
            OpKind::DepthwiseConv2d {
                window,
                depth_multiplier: m,
                act: activation(&o, 4)?,
            }
        }
        code::DEQUANTIZE => OpKind::Dequantize,
        code::MAX_POOL_2D => {
            let o = options(op, "Pool2DOptions")?;
            let window = Window {
                padding: padding(&o, 0)?,
                stride_w: positive(&o, 1, "stride_w", 1)?,
                stride_h: positive(&o, 2, "stride_h", 1)?,
                dilation_w: 1,
                dilation_h: 1,
            };
            OpKind::MaxPool2d {
                window,
                filter_w: positive(&o, 3, "filter_width", 1)?,
                filter_h: positive(&o, 4, "filter_height", 1)?,
                act: activation(&o, 5)?,
            }
        }
        code::PAD => OpKind::Pad,
        code::PRELU => OpKind::Prelu,
        code::RELU => OpKind::Relu,
        code::RESHAPE => OpKind::Reshape,
        other => OpKind::Other(other),
    })
}

/// Reads the first subgraph of a TFLite flatbuffer (identifier `TFL3`).
pub fn parse(buf: &[u8]) -> FbResult<ModelDef<'_>> {
    let model = Table::root(buf, b"TFL3", "Model")?;
    let codes = model
        .tables(1, "operator_codes", "OperatorCode")?
        .iter()
        .map(|c| {
            // Files before schema 3a keep the code in the byte field; newer ones in both, and
            // TFLite takes the larger of the two.
            let old = c.scalar::<i8>(0, "deprecated_builtin_code", 0)? as i32;
            let new = c.scalar::<i32>(3, "builtin_code", 0)?;
            Ok(old.max(new))
        })
        .collect::<FbResult<Vec<i32>>>()?;
    let subgraphs = model.tables(2, "subgraphs", "SubGraph")?;
    let graph = subgraphs.first().ok_or("the model has no subgraph")?;

    let buffers = model
        .tables(4, "buffers", "Buffer")?
        .iter()
        .map(|b| {
            if let Some(data) = b.bytes(0, "data")? {
                return Ok(data);
            }
            // Models over 2 GiB keep buffers after the flatbuffer, by absolute offset and size.
            let offset = b.scalar::<u64>(1, "offset", 0)? as usize;
            let size = b.scalar::<u64>(2, "size", 0)? as usize;
            if offset <= 1 {
                return Ok(&buf[..0]);
            }
            offset
                .checked_add(size)
                .and_then(|end| buf.get(offset..end))
                .ok_or_else(|| format!("Buffer.offset {offset} + size {size} past the end"))
        })
        .collect::<FbResult<Vec<&[u8]>>>()?;

    let tensors = graph
        .tables(0, "tensors", "Tensor")?
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let name = t
                .string(3, "name")?
                .unwrap_or_else(|| format!("tensor {i}"));
            let shape = t
                .scalars::<i32>(0, "shape")?
                .into_iter()
                .map(|d| usize::try_from(d).map_err(|_| format!("tensor {name}: dimension {d}")))
                .collect::<FbResult<Vec<usize>>>()?;
            let dtype = match t.scalar::<i8>(1, "type", 0)? {
                0 => TensorType::F32,
                1 => TensorType::F16,
                2 => TensorType::I32,
                other => TensorType::Other(other),
            };
            let buffer = t.scalar::<u32>(2, "buffer", 0)? as usize;
            if buffer >= buffers.len().max(1) {
                return Err(format!(
                    "tensor {name}: buffer {buffer} of {}",
                    buffers.len()
                ));
            }
            Ok(TensorDef {
                name,
                shape,
                dtype,
                buffer,
            })
        })
        .collect::<FbResult<Vec<_>>>()?;

    let index = |v: Vec<i32>, what: &str| -> FbResult<Vec<usize>> {
        v.into_iter()
            .map(|i| {
                usize::try_from(i)
                    .ok()
                    .filter(|&i| i < tensors.len())
                    .ok_or_else(|| format!("{what}: tensor {i} of {}", tensors.len()))
            })
            .collect()
    };
    let inputs = index(graph.scalars(1, "inputs")?, "SubGraph.inputs")?;
    let outputs = index(graph.scalars(2, "outputs")?, "SubGraph.outputs")?;

    let operators = graph
        .tables(3, "operators", "Operator")?
        .iter()
        .enumerate()
        .map(|(i, op)| {
            let opcode = op.scalar::<u32>(0, "opcode_index", 0)? as usize;
            let code = *codes
                .get(opcode)
                .ok_or_else(|| format!("operator {i}: opcode_index {opcode} of {}", codes.len()))?;
            let kind =
                op_kind(code, op).map_err(|e| format!("operator {i} ({}): {e}", op_name(code)))?;
            let inputs: Vec<i32> = op.scalars(1, "inputs")?;
            let outputs: Vec<i32> = op.scalars(2, "outputs")?;
            for &t in inputs.iter().chain(&outputs) {
                if t < -1 || t >= tensors.len() as i32 {
                    return Err(format!(
                        "operator {i} ({}): tensor {t} of {}",
                        op_name(code),
                        tensors.len()
                    ));
                }
            }
            Ok(OperatorDef {
                kind,
                inputs,
                outputs,
            })
        })
        .collect::<FbResult<Vec<_>>>()?;

    Ok(ModelDef {
        tensors,
        operators,
        inputs,
        outputs,
        buffers,
    })
}
