//! A rotated crop of an image into a model's input tensor, as MediaPipe's
//! `ImageToTensorCalculator` does it: the rectangle's corners map onto the output's corners
//! (OpenCV `warpPerspective` with bilinear sampling), then pixel values map linearly into the
//! model's float range.

use candle_core::{Device, Tensor};
use image::RgbImage;

use crate::region::RotatedRect;
use crate::{Result, TrackerError};

/// What a sample outside the image reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Border {
    /// Black (the detector's letterbox).
    Zero,
    /// The nearest edge pixel (the landmark model's crop).
    Replicate,
}

/// A model's input: its square side in pixels and the float range pixel values 0..255 map to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InputSpec {
    /// Output width and height.
    pub size: usize,
    /// The value of a 0 pixel.
    pub low: f32,
    /// The value of a 255 pixel.
    pub high: f32,
    /// Outside the image.
    pub border: Border,
}

/// Bilinear sample of channel values at `(x, y)` (pixel `i` centred on `i`).
fn sample(image: &RgbImage, x: f32, y: f32, border: Border) -> [f32; 3] {
    let (w, h) = (image.width() as i64, image.height() as i64);
    let (x0, y0) = (x.floor(), y.floor());
    let (fx, fy) = (x - x0, y - y0);
    let (x0, y0) = (x0 as i64, y0 as i64);
    let pixel = |px: i64, py: i64| -> [f32; 3] {
        let (px, py) = match border {
            Border::Replicate => (px.clamp(0, w - 1), py.clamp(0, h - 1)),
            Border::Zero if px < 0 || py < 0 || px >= w || py >= h => return [0.0; 3],
            Border::Zero => (px, py),
        };
        let p = image.get_pixel(px as u32, py as u32).0;
        [p[0] as f32, p[1] as f32, p[2] as f32]
    };
    let (a, b, c, d) = (
        pixel(x0, y0),
        pixel(x0 + 1, y0),
        pixel(x0, y0 + 1),
        pixel(x0 + 1, y0 + 1),
    );
    std::array::from_fn(|k| {
        let top = a[k] + (b[k] - a[k]) * fx;
        let bottom = c[k] + (d[k] - c[k]) * fx;
        top + (bottom - top) * fy
    })
}

/// The crop of `region` as a `[1, size, size, 3]` f32 tensor (NHWC, RGB) in `spec`'s range.
///
/// # Errors
/// [`TrackerError::Invalid`] for an empty image or a degenerate region.
pub fn crop_to_tensor(image: &RgbImage, region: &RotatedRect, spec: &InputSpec) -> Result<Tensor> {
    if image.width() == 0 || image.height() == 0 {
        return Err(TrackerError::Invalid {
            what: "image".into(),
            message: "it has no pixels".into(),
        });
    }
    let finite = region
        .center
        .iter()
        .chain(&region.size)
        .chain([&region.rotation])
        .all(|v| v.is_finite());
    if !finite || region.size[0] <= 0.0 || region.size[1] <= 0.0 {
        return Err(TrackerError::Invalid {
            what: "crop region".into(),
            message: format!("{region:?} is not a finite rectangle of positive size"),
        });
    }
    let n = spec.size;
    let scale = (spec.high - spec.low) / 255.0;
    let mut data = Vec::with_capacity(n * n * 3);
    for v in 0..n {
        for u in 0..n {
            let [x, y] = region.to_image(u as f32 / n as f32, v as f32 / n as f32);
            let p = sample(image, x, y, spec.border);
            data.extend(p.iter().map(|&c| spec.low + c * scale));
        }
    }
    Tensor::from_vec(data, (1, n, n, 3), &Device::Cpu).map_err(|source| TrackerError::Candle {
        context: "crop".into(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_whole_image_region_reproduces_the_image_and_values_map_into_range() {
        let image = RgbImage::from_fn(4, 4, |x, y| {
            image::Rgb([(x * 60) as u8, (y * 60) as u8, 255])
        });
        let region = RotatedRect {
            center: [2.0, 2.0],
            size: [4.0, 4.0],
            rotation: 0.0,
        };
        let spec = InputSpec {
            size: 4,
            low: -1.0,
            high: 1.0,
            border: Border::Zero,
        };
        let t = crop_to_tensor(&image, &region, &spec).unwrap();
        let v = t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        // Output pixel (u, v) samples source (u, v) exactly.
        for (i, px) in v.chunks(3).enumerate() {
            let (x, y) = ((i % 4) as f32, (i / 4) as f32);
            assert!((px[0] - (x * 60.0 / 127.5 - 1.0)).abs() < 1e-6);
            assert!((px[1] - (y * 60.0 / 127.5 - 1.0)).abs() < 1e-6);
            assert!((px[2] - 1.0).abs() < 1e-6);
        }
    }

    #[test]
    fn outside_reads_zero_or_the_edge() {
        let image = RgbImage::from_pixel(2, 2, image::Rgb([255, 255, 255]));
        let region = RotatedRect {
            center: [50.0, 50.0],
            size: [2.0, 2.0],
            rotation: 0.3,
        };
        for (border, want) in [(Border::Zero, 0.0), (Border::Replicate, 1.0)] {
            let spec = InputSpec {
                size: 2,
                low: 0.0,
                high: 1.0,
                border,
            };
            let t = crop_to_tensor(&image, &region, &spec).unwrap();
            let v = t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            assert!(
                v.iter().all(|&x| (x - want).abs() < 1e-6),
                "{border:?}: {v:?}"
            );
        }
    }

    #[test]
    fn degenerate_inputs_are_errors() {
        let spec = InputSpec {
            size: 2,
            low: 0.0,
            high: 1.0,
            border: Border::Zero,
        };
        let ok = RotatedRect {
            center: [0.0, 0.0],
            size: [1.0, 1.0],
            rotation: 0.0,
        };
        assert!(crop_to_tensor(&RgbImage::new(0, 0), &ok, &spec).is_err());
        let nan = RotatedRect {
            center: [f32::NAN, 0.0],
            ..ok
        };
        assert!(crop_to_tensor(&RgbImage::new(2, 2), &nan, &spec).is_err());
        let empty = RotatedRect {
            size: [0.0, 1.0],
            ..ok
        };
        assert!(crop_to_tensor(&RgbImage::new(2, 2), &empty, &spec).is_err());
    }
}
