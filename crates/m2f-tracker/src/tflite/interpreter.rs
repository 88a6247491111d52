//! A small TFLite interpreter on candle for the operator set of MediaPipe's face models: CONV_2D,
//! DEPTHWISE_CONV_2D, ADD, DEQUANTIZE (float16 constants), PRELU, MAX_POOL_2D, PAD, RELU,
//! RESHAPE and CONCATENATION.
//!
//! Loading reads the flatbuffer, folds DEQUANTIZE of constants into float32 weights, and turns
//! every other operator into a [`Step`] holding its weights in the layout its kernel wants.
//! Running executes the steps in file order on NHWC tensors, checks each output against the
//! shape the file declares, and drops every activation after its last reader.

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use m2f_kernels::{linear, Epilogue};

use super::kernels::{apply, DepthwiseConv, MaxPool, Patches};
use super::schema::{self, op_name, Activation, ModelDef, OpKind, TensorType, Window};
use crate::{Result, TrackerError};

/// The most elements a tensor of a model may declare or an operator may make (64 MiB of f32,
/// ten times a 1080p RGB frame; MediaPipe's face models stay under 300 000): a larger one means
/// a corrupt file, and allocating it could abort the process.
pub(crate) const MAX_ELEMENTS: usize = 1 << 24;

/// One operator, ready to run.
#[derive(Debug)]
enum Step {
    /// A full convolution as one product: `x` (or its patches) `[…, k]` × `weight [out, k]ᵀ`.
    Conv {
        input: usize,
        weight: Tensor,
        bias: Tensor,
        /// `None` for a 1×1 convolution with stride 1, which needs no patches.
        patches: Option<(usize, usize, Window)>,
        act: Activation,
    },
    Depthwise {
        input: usize,
        op: DepthwiseConv,
        act: Activation,
    },
    Add {
        a: usize,
        b: usize,
        act: Activation,
    },
    MaxPool {
        input: usize,
        kh: usize,
        kw: usize,
        window: Window,
        act: Activation,
    },
    /// Zero padding, `(before, after)` per axis.
    Pad {
        input: usize,
        pads: Vec<(usize, usize)>,
    },
    Prelu {
        input: usize,
        alpha: Tensor,
    },
    Relu {
        input: usize,
    },
    Reshape {
        input: usize,
    },
    Concat {
        inputs: Vec<usize>,
        axis: usize,
        act: Activation,
    },
}

impl Step {
    /// The tensors it reads.
    fn reads(&self) -> Vec<usize> {
        match self {
            Step::Conv { input, .. }
            | Step::Depthwise { input, .. }
            | Step::MaxPool { input, .. }
            | Step::Pad { input, .. }
            | Step::Prelu { input, .. }
            | Step::Relu { input }
            | Step::Reshape { input } => vec![*input],
            Step::Add { a, b, .. } => vec![*a, *b],
            Step::Concat { inputs, .. } => inputs.clone(),
        }
    }
}

/// A tensor of the graph as the file declares it.
#[derive(Debug, Clone)]
struct Declared {
    name: String,
    shape: Vec<usize>,
}

/// A TFLite model loaded for inference on the CPU.
#[derive(Debug)]
pub struct TfliteModel {
    /// The file name, for messages.
    name: String,
    tensors: Vec<Declared>,
    /// Float constants that operators read as activations (an ADD with a constant operand).
    constants: Vec<Option<Tensor>>,
    /// (step, its operator's schema name, its output tensor).
    steps: Vec<(Step, &'static str, usize)>,
    /// For each step, the activations whose last reader it is.
    frees: Vec<Vec<usize>>,
    inputs: Vec<usize>,
    outputs: Vec<usize>,
}

/// A constant's values, dequantised to f32 from float32 or float16 storage.
fn float_values(def: &ModelDef, t: usize) -> Option<Vec<f32>> {
    let tensor = &def.tensors[t];
    let bytes = *def.buffers.get(tensor.buffer)?;
    let n: usize = tensor.shape.iter().product();
    match tensor.dtype {
        TensorType::F32 if bytes.len() == 4 * n => Some(
            bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
                .collect(),
        ),
        TensorType::F16 if bytes.len() == 2 * n => Some(
            bytes
                .chunks_exact(2)
                .map(|b| half::f16::from_le_bytes(b.try_into().expect("2 bytes")).to_f32())
                .collect(),
        ),
        _ => None,
    }
}

fn int_values(def: &ModelDef, t: usize) -> Option<Vec<i32>> {
    let tensor = &def.tensors[t];
    let bytes = *def.buffers.get(tensor.buffer)?;
    let n: usize = tensor.shape.iter().product();
    (tensor.dtype == TensorType::I32 && bytes.len() == 4 * n).then(|| {
        bytes
            .chunks_exact(4)
            .map(|b| i32::from_le_bytes(b.try_into().expect("4 bytes")))
            .collect()
    })
}

impl TfliteModel {
    /// Reads and prepares a `.tflite` file.
    ///
    /// # Errors
    /// [`TrackerError::Io`] when the file cannot be read, [`TrackerError::Format`] when it is
    /// not a well-formed TFLite flatbuffer, [`TrackerError::Unsupported`] for an operator or
    /// tensor type outside the set this interpreter runs.
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|source| TrackerError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_bytes(&bytes, &path.display().to_string())
    }

    /// Prepares a model from the bytes of a `.tflite` file; `name` appears in messages.
    ///
    /// # Errors
    /// As [`TfliteModel::load`], without the I/O.
    pub fn from_bytes(bytes: &[u8], name: &str) -> Result<Self> {
        let format = |message: String| TrackerError::Format {
            model: name.to_string(),
            message,
        };
        let unsupported = |message: String| TrackerError::Unsupported {
            model: name.to_string(),
            message,
        };
        let def = schema::parse(bytes).map_err(format)?;
        for t in &def.tensors {
            let elements = t.shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
            if elements.is_none_or(|n| n > MAX_ELEMENTS) {
                return Err(unsupported(format!(
                    "tensor {} has shape {:?}, over the {MAX_ELEMENTS} elements this interpreter allows",
                    t.name, t.shape
                )));
            }
        }
        let tensors: Vec<Declared> = def
            .tensors
            .iter()
            .map(|t| Declared {
                name: t.name.clone(),
                shape: t.shape.clone(),
            })
            .collect();
        let has_data = |t: usize| {
            def.buffers
                .get(def.tensors[t].buffer)
                .is_some_and(|b| !b.is_empty())
        };

        // Float constants: stored float32 ones now, dequantised ones as their DEQUANTIZE is met.
        let mut floats: Vec<Option<Vec<f32>>> = (0..def.tensors.len())
            .map(|t| {
                if has_data(t) {
                    float_values(&def, t)
                } else {
                    None
                }
            })
            .collect();

        let mut steps = Vec::new();
        for (i, op) in def.operators.iter().enumerate() {
            let kind_name = match op.kind {
                OpKind::Other(code) => {
                    return Err(unsupported(format!(
                        "operator {i} is {}, which this interpreter does not run (it runs ADD, \
                         CONCATENATION, CONV_2D, DEPTHWISE_CONV_2D, DEQUANTIZE, MAX_POOL_2D, PAD, \
                         PRELU, RELU, RESHAPE)",
                        op_name(code)
                    )))
                }
                OpKind::Add { .. } => "ADD",
                OpKind::Concatenation { .. } => "CONCATENATION",
                OpKind::Conv2d { .. } => "CONV_2D",
                OpKind::DepthwiseConv2d { .. } => "DEPTHWISE_CONV_2D",
                OpKind::Dequantize => "DEQUANTIZE",
                OpKind::MaxPool2d { .. } => "MAX_POOL_2D",
                OpKind::Pad => "PAD",
                OpKind::Prelu => "PRELU",
                OpKind::Relu => "RELU",
                OpKind::Reshape => "RESHAPE",
            };
            let at =
                |message: String| unsupported(format!("operator {i} ({kind_name}): {message}"));
            let input = |k: usize| -> Result<usize> {
                op.inputs
                    .get(k)
                    .and_then(|&t| usize::try_from(t).ok())
                    .ok_or_else(|| at(format!("input {k} missing")))
            };
            let &[output] = op.outputs.as_slice() else {
                return Err(at(format!("{} outputs, expected 1", op.outputs.len())));
            };
            let output = usize::try_from(output)
                .map_err(|_| at(format!("output tensor {output} is not a tensor")))?;
            let shape_of = |t: usize| def.tensors[t].shape.clone();
            let constant =
                |floats: &[Option<Vec<f32>>], t: usize, what: &str| -> Result<Vec<f32>> {
                    floats[t].clone().ok_or_else(|| {
                        at(format!(
                            "{what} {} must be a float32 or float16 constant",
                            def.tensors[t].name
                        ))
                    })
                };
            let bias = |floats: &[Option<Vec<f32>>], out_ch: usize| -> Result<Vec<f32>> {
                match op.inputs.get(2).copied() {
                    None | Some(-1) => Ok(vec![0.0; out_ch]),
                    Some(t) => {
                        let b = constant(floats, t as usize, "bias")?;
                        if b.len() != out_ch {
                            return Err(at(format!(
                                "bias has {} values for {out_ch} channels",
                                b.len()
                            )));
                        }
                        Ok(b)
                    }
                }
            };
            let cpu = &Device::Cpu;
            let tensor = |v: Vec<f32>, shape: &[usize]| {
                Tensor::from_vec(v, shape, cpu).map_err(|e| at(e.to_string()))
            };
            let step = match op.kind {
                OpKind::Dequantize => {
                    let source = input(0)?;
                    let values = constant(&floats, source, "input")?;
                    floats[output] = Some(values);
                    continue;
                }
                OpKind::Conv2d { window, act } => {
                    let filter = input(1)?;
                    let &[o, kh, kw, c] = shape_of(filter).as_slice() else {
                        return Err(at(format!(
                            "filter shape {:?} is not [out, kh, kw, in]",
                            shape_of(filter)
                        )));
                    };
                    let weight = tensor(constant(&floats, filter, "filter")?, &[o, kh * kw * c])?;
                    let bias = tensor(bias(&floats, o)?, &[o])?;
                    let pointwise =
                        kh == 1 && kw == 1 && window.stride_h == 1 && window.stride_w == 1;
                    Step::Conv {
                        input: input(0)?,
                        weight,
                        bias,
                        patches: (!pointwise).then_some((kh, kw, window)),
                        act,
                    }
                }
                OpKind::DepthwiseConv2d {
                    window,
                    depth_multiplier,
                    act,
                } => {
                    let filter = input(1)?;
                    let &[1, kh, kw, oc] = shape_of(filter).as_slice() else {
                        return Err(at(format!(
                            "filter shape {:?} is not [1, kh, kw, channels]",
                            shape_of(filter)
                        )));
                    };
                    let in_c = shape_of(input(0)?).last().copied().unwrap_or(0);
                    let multiplier = if in_c > 0 && oc % in_c == 0 {
                        oc / in_c
                    } else {
                        depth_multiplier
                    };
                    if in_c * multiplier != oc {
                        return Err(at(format!(
                            "{oc} filter channels for {in_c} input channels"
                        )));
                    }
                    let op = DepthwiseConv {
                        filter: constant(&floats, filter, "filter")?,
                        bias: bias(&floats, oc)?,
                        kh,
                        kw,
                        multiplier,
                        window,
                    };
                    Step::Depthwise {
                        input: input(0)?,
                        op,
                        act,
                    }
                }
                OpKind::Add { act } => Step::Add {
                    a: input(0)?,
                    b: input(1)?,
                    act,
                },
                OpKind::MaxPool2d {
                    window,
                    filter_h,
                    filter_w,
                    act,
                } => Step::MaxPool {
                    input: input(0)?,
                    kh: filter_h,
                    kw: filter_w,
                    window,
                    act,
                },
                OpKind::Pad => {
                    let paddings = input(1)?;
                    let values = int_values(&def, paddings)
                        .ok_or_else(|| at("paddings must be an int32 constant".to_string()))?;
                    let rank = shape_of(input(0)?).len();
                    if values.len() != 2 * rank || values.iter().any(|&p| p < 0) {
                        return Err(at(format!("paddings {values:?} do not fit rank {rank}")));
                    }
                    let pads: Vec<(usize, usize)> = values
                        .chunks(2)
                        .map(|p| (p[0] as usize, p[1] as usize))
                        .collect();
                    // The padded shape must be the declared one (which is bounded), so a
                    // corrupt file cannot ask for a huge allocation.
                    let padded: Vec<usize> = shape_of(input(0)?)
                        .iter()
                        .zip(&pads)
                        .map(|(d, (a, b))| d + a + b)
                        .collect();
                    if padded != shape_of(output) {
                        return Err(at(format!(
                            "paddings {values:?} turn {:?} into {padded:?}, the file declares {:?}",
                            shape_of(input(0)?),
                            shape_of(output)
                        )));
                    }
                    Step::Pad {
                        input: input(0)?,
                        pads,
                    }
                }
                OpKind::Prelu => {
                    let alpha = input(1)?;
                    let values = constant(&floats, alpha, "alpha")?;
                    Step::Prelu {
                        input: input(0)?,
                        alpha: tensor(values, &shape_of(alpha))?,
                    }
                }
                OpKind::Relu => Step::Relu { input: input(0)? },
                OpKind::Reshape => Step::Reshape { input: input(0)? },
                OpKind::Concatenation { axis, act } => {
                    let inputs = op
                        .inputs
                        .iter()
                        .map(|&t| usize::try_from(t).map_err(|_| at("an input is omitted".into())))
                        .collect::<Result<Vec<_>>>()?;
                    let rank = shape_of(output).len() as i32;
                    let axis = if axis < 0 { axis + rank } else { axis };
                    if !(0..rank).contains(&axis) {
                        return Err(at(format!("axis {axis} outside rank {rank}")));
                    }
                    Step::Concat {
                        inputs,
                        axis: axis as usize,
                        act,
                    }
                }
                OpKind::Other(_) => unreachable!("rejected above"),
            };
            steps.push((step, kind_name, output));
        }

        // Constants read as activations become tensors; weights already live in their steps.
        let mut constants: Vec<Option<Tensor>> = vec![None; tensors.len()];
        let mut last_read = vec![None; tensors.len()];
        for (s, (step, name, _)) in steps.iter().enumerate() {
            for t in step.reads() {
                last_read[t] = Some(s);
                if let Some(values) = &floats[t] {
                    if constants[t].is_none() {
                        constants[t] = Some(
                            Tensor::from_vec(
                                values.clone(),
                                tensors[t].shape.as_slice(),
                                &Device::Cpu,
                            )
                            .map_err(|e| {
                                unsupported(format!("{name} constant {}: {e}", tensors[t].name))
                            })?,
                        );
                    }
                }
            }
        }
        let mut frees = vec![Vec::new(); steps.len()];
        for (t, last) in last_read.iter().enumerate() {
            if let Some(s) = *last {
                if constants[t].is_none() && !def.outputs.contains(&t) {
                    frees[s].push(t);
                }
            }
        }
        for &t in &def.inputs {
            if !matches!(def.tensors[t].dtype, TensorType::F32) {
                return Err(unsupported(format!(
                    "input {} is {:?}, expected float32",
                    tensors[t].name, def.tensors[t].dtype
                )));
            }
        }
        Ok(Self {
            name: name.to_string(),
            tensors,
            constants,
            steps,
            frees,
            inputs: def.inputs.clone(),
            outputs: def.outputs.clone(),
        })
    }

    /// The declared shapes of the graph's inputs (NHWC for images).
    pub fn input_shapes(&self) -> Vec<Vec<usize>> {
        self.inputs
            .iter()
            .map(|&t| self.tensors[t].shape.clone())
            .collect()
    }

    /// The declared shapes of the graph's outputs.
    pub fn output_shapes(&self) -> Vec<Vec<usize>> {
        self.outputs
            .iter()
            .map(|&t| self.tensors[t].shape.clone())
            .collect()
    }

    /// The model's name in messages (its file path).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs the graph on f32 inputs of the declared shapes; returns the outputs in graph order.
    ///
    /// # Errors
    /// [`TrackerError::Invalid`] for a wrong number, type or shape of inputs;
    /// [`TrackerError::Candle`] naming the operator when one fails.
    pub fn run(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        if inputs.len() != self.inputs.len() {
            return Err(TrackerError::Invalid {
                what: format!("inputs of {}", self.name),
                message: format!(
                    "{} given, the model takes {}",
                    inputs.len(),
                    self.inputs.len()
                ),
            });
        }
        let mut values: Vec<Option<Tensor>> = vec![None; self.tensors.len()];
        for (&t, x) in self.inputs.iter().zip(inputs) {
            let declared = &self.tensors[t];
            if x.dims() != declared.shape.as_slice() || x.dtype() != DType::F32 {
                return Err(TrackerError::Invalid {
                    what: format!("input {} of {}", declared.name, self.name),
                    message: format!(
                        "{:?} {:?} given, expected f32 {:?}",
                        x.dtype(),
                        x.dims(),
                        declared.shape
                    ),
                });
            }
            values[t] = Some(
                x.to_device(&Device::Cpu)
                    .and_then(|x| x.contiguous())
                    .map_err(|source| TrackerError::Candle {
                        context: format!("{}: input {}", self.name, declared.name),
                        source,
                    })?,
            );
        }
        for (s, (step, op, output)) in self.steps.iter().enumerate() {
            let context = || {
                format!(
                    "{}: operator {s} ({op}) → {}",
                    self.name, self.tensors[*output].name
                )
            };
            let y = self
                .execute(step, &values, &self.tensors[*output].shape)
                .map_err(|source| TrackerError::Candle {
                    context: context(),
                    source,
                })?;
            if y.dims() != self.tensors[*output].shape.as_slice() {
                return Err(TrackerError::Candle {
                    context: context(),
                    source: candle_core::Error::Msg(format!(
                        "produced {:?}, the file declares {:?}",
                        y.dims(),
                        self.tensors[*output].shape
                    )),
                });
            }
            values[*output] = Some(y);
            for &t in &self.frees[s] {
                values[t] = None;
            }
        }
        self.outputs
            .iter()
            .map(|&t| {
                values[t]
                    .take()
                    .or_else(|| self.constants[t].clone())
                    .ok_or_else(|| TrackerError::Unsupported {
                        model: self.name.clone(),
                        message: format!("output {} is never computed", self.tensors[t].name),
                    })
            })
            .collect()
    }

    /// [`TfliteModel::run`] for a model of `N` outputs, each flattened into a vector.
    ///
    /// # Errors
    /// As [`TfliteModel::run`]; [`TrackerError::WrongModel`] when the model has another number of
    /// outputs.
    pub fn run_flat<const N: usize>(&self, inputs: &[Tensor]) -> Result<[Vec<f32>; N]> {
        let outputs = self.run(inputs)?;
        let count = outputs.len();
        let flat = outputs
            .iter()
            .enumerate()
            .map(|(i, t)| {
                t.flatten_all()
                    .and_then(|t| t.to_vec1::<f32>())
                    .map_err(|source| TrackerError::Candle {
                        context: format!("{}: output {i}", self.name),
                        source,
                    })
            })
            .collect::<Result<Vec<_>>>()?;
        flat.try_into().map_err(|_| TrackerError::WrongModel {
            model: self.name.clone(),
            message: format!("{count} outputs, expected {N}"),
        })
    }

    fn execute(
        &self,
        step: &Step,
        values: &[Option<Tensor>],
        out_shape: &[usize],
    ) -> candle_core::Result<Tensor> {
        let value = |t: usize| -> candle_core::Result<&Tensor> {
            values[t]
                .as_ref()
                .or(self.constants[t].as_ref())
                .ok_or_else(|| {
                    candle_core::Error::Msg(format!(
                        "tensor {} read before it is computed",
                        self.tensors[t].name
                    ))
                })
        };
        match step {
            Step::Conv {
                input,
                weight,
                bias,
                patches,
                act,
            } => {
                let x = value(*input)?;
                let x = match patches {
                    None => x.clone(),
                    Some((kh, kw, window)) => apply(
                        x,
                        &Patches {
                            kh: *kh,
                            kw: *kw,
                            window: *window,
                        },
                    )?,
                };
                activate(linear(&x, weight, bias, Epilogue::None)?, *act)
            }
            Step::Depthwise { input, op, act } => activate(apply(value(*input)?, op)?, *act),
            Step::Add { a, b, act } => activate(value(*a)?.broadcast_add(value(*b)?)?, *act),
            Step::MaxPool {
                input,
                kh,
                kw,
                window,
                act,
            } => activate(
                apply(
                    value(*input)?,
                    &MaxPool {
                        kh: *kh,
                        kw: *kw,
                        window: *window,
                    },
                )?,
                *act,
            ),
            Step::Pad { input, pads } => {
                let mut x = value(*input)?.clone();
                for (axis, &(before, after)) in pads.iter().enumerate() {
                    if before + after > 0 {
                        x = x.pad_with_zeros(axis, before, after)?;
                    }
                }
                Ok(x)
            }
            Step::Prelu { input, alpha } => {
                let x = value(*input)?;
                x.relu()? + x.minimum(0f32)?.broadcast_mul(alpha)?
            }
            Step::Relu { input } => value(*input)?.relu(),
            Step::Reshape { input } => value(*input)?.reshape(out_shape),
            Step::Concat { inputs, axis, act } => {
                let xs = inputs
                    .iter()
                    .map(|&t| value(t))
                    .collect::<candle_core::Result<Vec<_>>>()?;
                activate(Tensor::cat(&xs, *axis)?, *act)
            }
        }
    }
}

fn activate(x: Tensor, act: Activation) -> candle_core::Result<Tensor> {
    match act {
        Activation::None => Ok(x),
        Activation::Relu => x.relu(),
        Activation::ReluN1To1 => x.clamp(-1f32, 1f32),
        Activation::Relu6 => x.clamp(0f32, 6f32),
        Activation::Tanh => x.tanh(),
    }
}
