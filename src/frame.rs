//! Frames: RGBA pixel buffers as the camera gives them, and the sampling that turns a region
//! of a frame into a model's input tensor.

use crate::error::{Error, ErrorCode, Result};
use crate::geometry::{Affine, BBox, Point};

/// The largest frame side accepted (a 16-megapixel 4:3 photo is 4608 px wide).
pub const MAX_SIDE: u32 = 8192;

/// A borrowed RGBA frame (4 bytes per pixel, row-major, no padding).
#[derive(Clone, Copy)]
pub struct FrameView<'a> {
    width: u32,
    height: u32,
    rgba: &'a [u8],
}

impl<'a> FrameView<'a> {
    /// Wraps an RGBA buffer, checking that its length matches the dimensions.
    pub fn new(width: u32, height: u32, rgba: &'a [u8]) -> Result<Self> {
        if width == 0 || height == 0 || width > MAX_SIDE || height > MAX_SIDE {
            return Err(Error::new(
                ErrorCode::BadImage,
                format!("frame size {width}x{height} outside 1..={MAX_SIDE}"),
            ));
        }
        let expected = width as usize * height as usize * 4;
        if rgba.len() != expected {
            return Err(Error::new(
                ErrorCode::BadImage,
                format!(
                    "RGBA buffer of {} bytes for {width}x{height} (expected {expected})",
                    rgba.len()
                ),
            ));
        }
        Ok(FrameView {
            width,
            height,
            rgba,
        })
    }
    pub fn width(&self) -> u32 {
        self.width
    }
    pub fn height(&self) -> u32 {
        self.height
    }
    pub fn rgba(&self) -> &'a [u8] {
        self.rgba
    }

    /// RGB of pixel (x, y); the caller keeps x, y in range.
    #[inline]
    fn px(&self, x: u32, y: u32) -> [f32; 3] {
        let i = (y as usize * self.width as usize + x as usize) * 4;
        [
            self.rgba[i] as f32,
            self.rgba[i + 1] as f32,
            self.rgba[i + 2] as f32,
        ]
    }

    /// Bilinear sample at a continuous point (pixel centres at i + 0.5). Outside the frame
    /// is black, as in MediaPipe's zero-padded letterbox.
    #[inline]
    pub fn sample(&self, p: Point) -> [f32; 3] {
        let fx = p.x - 0.5;
        let fy = p.y - 0.5;
        let x0 = fx.floor();
        let y0 = fy.floor();
        let tx = fx - x0;
        let ty = fy - y0;
        let (w, h) = (self.width as i64, self.height as i64);
        let get = |x: i64, y: i64| -> [f32; 3] {
            if x < 0 || y < 0 || x >= w || y >= h {
                [0.0; 3]
            } else {
                self.px(x as u32, y as u32)
            }
        };
        let (xi, yi) = (x0 as i64, y0 as i64);
        let p00 = get(xi, yi);
        let p10 = get(xi + 1, yi);
        let p01 = get(xi, yi + 1);
        let p11 = get(xi + 1, yi + 1);
        let mut out = [0.0; 3];
        for c in 0..3 {
            let top = p00[c] + (p10[c] - p00[c]) * tx;
            let bot = p01[c] + (p11[c] - p01[c]) * tx;
            out[c] = top + (bot - top) * ty;
        }
        out
    }

    /// Fills an NHWC RGB tensor of `size`×`size` by sampling the frame through `map`
    /// (model-input pixel → frame point), scaling 0..255 values by `scale` then adding `offset`.
    pub fn sample_square(&self, map: &Affine, size: u32, scale: f32, offset: f32) -> Vec<f32> {
        let mut out = Vec::with_capacity((size * size * 3) as usize);
        for v in 0..size {
            for u in 0..size {
                let p = map.apply(Point::new(u as f32 + 0.5, v as f32 + 0.5));
                let rgb = self.sample(p);
                out.extend(rgb.iter().map(|c| c * scale + offset));
            }
        }
        out
    }

    /// Luma (BT.601) of every pixel in the box, row-major, with its width and height.
    pub fn luma_region(&self, b: &BBox) -> (Vec<f32>, u32, u32) {
        let (x0, y0, x1, y1) = b.clamp_pixels(self.width, self.height);
        let mut out = Vec::with_capacity(((x1 - x0) * (y1 - y0)) as usize);
        for y in y0..y1 {
            for x in x0..x1 {
                out.push(luma(self.px(x, y)));
            }
        }
        (out, x1 - x0, y1 - y0)
    }
}

/// BT.601 luma of an RGB triple (0..255).
#[inline]
pub fn luma(rgb: [f32; 3]) -> f32 {
    0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]
}

/// An owned RGBA frame, e.g. a decoded JPEG or PNG.
#[derive(Clone, Debug, PartialEq)]
pub struct Frame {
    pub width: u32,
    pub height: u32,
    pub rgba: Vec<u8>,
}

impl Frame {
    /// Decodes a JPEG or PNG (the formats the SDK uploads) into RGBA.
    pub fn decode(bytes: &[u8]) -> Result<Frame> {
        let format = image::guess_format(bytes)
            .map_err(|e| Error::new(ErrorCode::BadImage, format!("unknown image format: {e}")))?;
        if !matches!(format, image::ImageFormat::Jpeg | image::ImageFormat::Png) {
            return Err(Error::new(
                ErrorCode::BadImage,
                format!("unsupported image format {format:?}"),
            ));
        }
        let mut reader = image::ImageReader::with_format(std::io::Cursor::new(bytes), format);
        let mut limits = image::Limits::default();
        limits.max_image_width = Some(MAX_SIDE);
        limits.max_image_height = Some(MAX_SIDE);
        limits.max_alloc = Some(512 * 1024 * 1024);
        reader.limits(limits);
        let img = reader
            .decode()
            .map_err(|e| Error::new(ErrorCode::BadImage, format!("image does not decode: {e}")))?;
        let rgba = img.to_rgba8();
        let (width, height) = rgba.dimensions();
        let frame = Frame {
            width,
            height,
            rgba: rgba.into_raw(),
        };
        frame.view()?; // size limits
        Ok(frame)
    }

    /// Wraps an RGBA buffer after checking it.
    pub fn from_rgba(width: u32, height: u32, rgba: Vec<u8>) -> Result<Frame> {
        FrameView::new(width, height, &rgba)?;
        Ok(Frame {
            width,
            height,
            rgba,
        })
    }

    pub fn view(&self) -> Result<FrameView<'_>> {
        FrameView::new(self.width, self.height, &self.rgba)
    }

    /// Encodes as JPEG at `quality` (1..=100).
    pub fn to_jpeg(&self, quality: u8) -> Result<Vec<u8>> {
        let mut rgb = Vec::with_capacity(self.rgba.len() / 4 * 3);
        for px in self.rgba.chunks_exact(4) {
            rgb.extend_from_slice(&px[..3]);
        }
        let mut out = Vec::new();
        let enc =
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality.clamp(1, 100));
        image::ImageEncoder::write_image(
            enc,
            &rgb,
            self.width,
            self.height,
            image::ExtendedColorType::Rgb8,
        )
        .map_err(|e| Error::new(ErrorCode::BadImage, format!("JPEG encoding failed: {e}")))?;
        Ok(out)
    }
}
