//! NHWC window kernels for the TFLite interpreter: depthwise convolution, patch extraction for
//! full convolutions (whose product then runs through `m2f_kernels::linear`), and max pooling.
//!
//! candle's own convolutions are NCHW and run a depthwise convolution as one small convolution
//! per channel; keeping TFLite's NHWC layout end to end also keeps RESHAPE, PAD and
//! CONCATENATION axes as the file states them. The inner loops run along channels, which are
//! contiguous in NHWC.

use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Tensor};

use super::schema::{Padding, Window};

/// Output size and padding before, along one axis, as TFLite computes them
/// (`tflite::ComputePaddingHeightWidth`): SAME gives `ceil(in / stride)` with the odd pad after.
pub fn output_and_pad(
    input: usize,
    window: usize,
    stride: usize,
    dilation: usize,
    padding: Padding,
) -> Option<(usize, usize)> {
    if input == 0 || window == 0 || stride == 0 || dilation == 0 {
        return None;
    }
    let effective = (window - 1) * dilation + 1;
    match padding {
        Padding::Same => {
            let out = input.div_ceil(stride);
            let needed = ((out - 1) * stride + effective).saturating_sub(input);
            Some((out, needed / 2))
        }
        Padding::Valid => (input >= effective).then(|| ((input - effective) / stride + 1, 0)),
    }
}

/// The geometry of one windowed op on an `[n, h, w, c]` input.
#[derive(Debug, Clone, Copy)]
pub struct WindowGeometry {
    /// Batch, height, width, channels of the input.
    pub n: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Input channels.
    pub c: usize,
    /// Window height.
    pub kh: usize,
    /// Window width.
    pub kw: usize,
    /// Output height.
    pub oh: usize,
    /// Output width.
    pub ow: usize,
    /// Rows of padding before the first.
    pub pad_top: usize,
    /// Columns of padding before the first.
    pub pad_left: usize,
    /// Strides and dilations.
    pub window: Window,
}

impl WindowGeometry {
    /// The geometry for an `[n, h, w, c]` input and a `kh × kw` window, or `None` when the
    /// window does not fit a VALID input.
    pub fn new(dims: [usize; 4], kh: usize, kw: usize, window: Window) -> Option<Self> {
        let [n, h, w, c] = dims;
        let (oh, pad_top) =
            output_and_pad(h, kh, window.stride_h, window.dilation_h, window.padding)?;
        let (ow, pad_left) =
            output_and_pad(w, kw, window.stride_w, window.dilation_w, window.padding)?;
        Some(Self {
            n,
            h,
            w,
            c,
            kh,
            kw,
            oh,
            ow,
            pad_top,
            pad_left,
            window,
        })
    }

    /// The input row read by output row `oy` at window row `ky`, if inside the input.
    #[inline]
    fn row(&self, oy: usize, ky: usize) -> Option<usize> {
        (oy * self.window.stride_h + ky * self.window.dilation_h)
            .checked_sub(self.pad_top)
            .filter(|&y| y < self.h)
    }

    /// The input column read by output column `ox` at window column `kx`, if inside the input.
    #[inline]
    fn col(&self, ox: usize, kx: usize) -> Option<usize> {
        (ox * self.window.stride_w + kx * self.window.dilation_w)
            .checked_sub(self.pad_left)
            .filter(|&x| x < self.w)
    }
}

fn contiguous<'a>(
    op: &str,
    storage: &'a CpuStorage,
    layout: &Layout,
) -> candle_core::Result<&'a [f32]> {
    let CpuStorage::F32(data) = storage else {
        candle_core::bail!("{op}: f32 input expected");
    };
    match layout.contiguous_offsets() {
        Some((a, b)) => Ok(&data[a..b]),
        None => candle_core::bail!("{op}: contiguous input expected"),
    }
}

fn dims4(op: &str, layout: &Layout) -> candle_core::Result<[usize; 4]> {
    match *layout.dims() {
        [n, h, w, c] => Ok([n, h, w, c]),
        ref d => candle_core::bail!("{op}: NHWC input expected, got {d:?}"),
    }
}

/// Depthwise convolution: input `[n, h, w, c]`, filter `[kh, kw, c·m]` (TFLite's `[1, kh, kw,
/// c·m]` without its leading 1), bias `[c·m]` → `[n, oh, ow, c·m]`; output channel `o` reads
/// input channel `o / m`.
#[derive(Debug)]
pub struct DepthwiseConv {
    /// Filter values, `[kh, kw, c·m]`.
    pub filter: Vec<f32>,
    /// Bias per output channel.
    pub bias: Vec<f32>,
    /// Window height and width.
    pub kh: usize,
    /// Window width.
    pub kw: usize,
    /// Output channels per input channel.
    pub multiplier: usize,
    /// Strides, dilations and padding.
    pub window: Window,
}

impl CustomOp1 for DepthwiseConv {
    fn name(&self) -> &'static str {
        "tflite-depthwise-conv"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let op = "DEPTHWISE_CONV_2D";
        let x = contiguous(op, storage, layout)?;
        let dims = dims4(op, layout)?;
        let Some(g) = WindowGeometry::new(dims, self.kh, self.kw, self.window) else {
            candle_core::bail!(
                "{op}: a {}×{} window does not fit input {dims:?}",
                self.kh,
                self.kw
            );
        };
        let oc = g.c * self.multiplier;
        if self.bias.len() != oc || self.filter.len() != self.kh * self.kw * oc {
            candle_core::bail!("{op}: filter/bias do not match {} output channels", oc);
        }
        let mut out = vec![0f32; g.n * g.oh * g.ow * oc];
        let mut expanded = vec![0f32; oc];
        for n in 0..g.n {
            let image = &x[n * g.h * g.w * g.c..(n + 1) * g.h * g.w * g.c];
            for oy in 0..g.oh {
                for ox in 0..g.ow {
                    let o = ((n * g.oh + oy) * g.ow + ox) * oc;
                    let acc = &mut out[o..o + oc];
                    acc.copy_from_slice(&self.bias);
                    for ky in 0..g.kh {
                        let Some(y) = g.row(oy, ky) else { continue };
                        for kx in 0..g.kw {
                            let Some(xx) = g.col(ox, kx) else { continue };
                            let pixel = &image[(y * g.w + xx) * g.c..(y * g.w + xx + 1) * g.c];
                            let f = &self.filter[(ky * g.kw + kx) * oc..(ky * g.kw + kx + 1) * oc];
                            let src = if self.multiplier == 1 {
                                pixel
                            } else {
                                for (i, e) in expanded.iter_mut().enumerate() {
                                    *e = pixel[i / self.multiplier];
                                }
                                &expanded
                            };
                            for ((a, &p), &w) in acc.iter_mut().zip(src).zip(f) {
                                *a += p * w;
                            }
                        }
                    }
                }
            }
        }
        Ok((CpuStorage::F32(out), Shape::from((g.n, g.oh, g.ow, oc))))
    }
}

/// Patches for a full convolution: input `[n, h, w, c]` → `[n, oh, ow, kh·kw·c]`, each row the
/// window's pixels in (ky, kx, channel) order (matching TFLite's OHWI filter rows), zeros where
/// the window hangs over the border.
pub struct Patches {
    /// Window height.
    pub kh: usize,
    /// Window width.
    pub kw: usize,
    /// Strides, dilations and padding.
    pub window: Window,
}

impl CustomOp1 for Patches {
    fn name(&self) -> &'static str {
        "tflite-patches"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let op = "CONV_2D";
        let x = contiguous(op, storage, layout)?;
        let dims = dims4(op, layout)?;
        let Some(g) = WindowGeometry::new(dims, self.kh, self.kw, self.window) else {
            candle_core::bail!(
                "{op}: a {}×{} window does not fit input {dims:?}",
                self.kh,
                self.kw
            );
        };
        let row = g.kh * g.kw * g.c;
        let size = [g.n, g.oh, g.ow, row]
            .iter()
            .try_fold(1usize, |a, &b| a.checked_mul(b));
        if size.is_none_or(|s| s > super::interpreter::MAX_ELEMENTS) {
            candle_core::bail!("{op}: {}×{} patches of {dims:?} are too large", g.kh, g.kw);
        }
        let mut out = vec![0f32; g.n * g.oh * g.ow * row];
        for n in 0..g.n {
            let image = &x[n * g.h * g.w * g.c..(n + 1) * g.h * g.w * g.c];
            for oy in 0..g.oh {
                for ox in 0..g.ow {
                    let o = ((n * g.oh + oy) * g.ow + ox) * row;
                    for ky in 0..g.kh {
                        let Some(y) = g.row(oy, ky) else { continue };
                        for kx in 0..g.kw {
                            let Some(xx) = g.col(ox, kx) else { continue };
                            let dst = o + (ky * g.kw + kx) * g.c;
                            out[dst..dst + g.c].copy_from_slice(
                                &image[(y * g.w + xx) * g.c..(y * g.w + xx + 1) * g.c],
                            );
                        }
                    }
                }
            }
        }
        Ok((CpuStorage::F32(out), Shape::from((g.n, g.oh, g.ow, row))))
    }
}

/// Max pooling over `kh × kw` windows of an `[n, h, w, c]` input; like TFLite, positions in the
/// padding take no part (they are not zeros).
pub struct MaxPool {
    /// Window height.
    pub kh: usize,
    /// Window width.
    pub kw: usize,
    /// Strides and padding (dilation 1).
    pub window: Window,
}

impl CustomOp1 for MaxPool {
    fn name(&self) -> &'static str {
        "tflite-max-pool"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let op = "MAX_POOL_2D";
        let x = contiguous(op, storage, layout)?;
        let dims = dims4(op, layout)?;
        let Some(g) = WindowGeometry::new(dims, self.kh, self.kw, self.window) else {
            candle_core::bail!(
                "{op}: a {}×{} window does not fit input {dims:?}",
                self.kh,
                self.kw
            );
        };
        let mut out = vec![f32::NEG_INFINITY; g.n * g.oh * g.ow * g.c];
        for n in 0..g.n {
            let image = &x[n * g.h * g.w * g.c..(n + 1) * g.h * g.w * g.c];
            for oy in 0..g.oh {
                for ox in 0..g.ow {
                    let o = ((n * g.oh + oy) * g.ow + ox) * g.c;
                    let acc = &mut out[o..o + g.c];
                    for ky in 0..g.kh {
                        let Some(y) = g.row(oy, ky) else { continue };
                        for kx in 0..g.kw {
                            let Some(xx) = g.col(ox, kx) else { continue };
                            let pixel = &image[(y * g.w + xx) * g.c..(y * g.w + xx + 1) * g.c];
                            for (a, &p) in acc.iter_mut().zip(pixel) {
                                *a = a.max(p);
                            }
                        }
                    }
                }
            }
        }
        Ok((CpuStorage::F32(out), Shape::from((g.n, g.oh, g.ow, g.c))))
    }
}

/// Applies a window kernel to a contiguous copy of `x`.
pub fn apply(x: &Tensor, op: &impl CustomOp1) -> candle_core::Result<Tensor> {
    x.contiguous()?.apply_op1_no_bwd(op)
}
