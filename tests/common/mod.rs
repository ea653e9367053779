//! Shared test helpers: the real models and photos, and the image transformations that
//! make the test cases (dark, bright, blurred, off-centre, small, two faces, occluders).
#![allow(dead_code)]

use liveform::frame::Frame;
use liveform::geometry::{BBox, Point};
use liveform::model::ModelKind;
use liveform::vision::Models;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

pub mod scenes;

/// The repository root (these helpers are also used by the server's tests).
pub fn root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    if manifest.join("models").is_dir() {
        manifest
    } else {
        manifest.join("..")
    }
}

pub fn photo(name: &str) -> Frame {
    let bytes = std::fs::read(root().join("tests/data").join(name)).expect("test photo");
    Frame::decode(&bytes).expect("decodes")
}

/// Every precheck model, loaded once per test binary.
pub fn models() -> &'static Models {
    static MODELS: OnceLock<Models> = OnceLock::new();
    MODELS.get_or_init(|| {
        Models::load_dir(&root().join("models"), &ModelKind::PRECHECKS).expect("models load")
    })
}

pub fn model_bytes(kind: ModelKind) -> Vec<u8> {
    std::fs::read(Path::new(&root()).join("models").join(kind.file_name())).expect("model file")
}

/// A `w`×`h` frame of one colour.
pub fn canvas(w: u32, h: u32, rgb: [u8; 3]) -> Frame {
    let mut rgba = Vec::with_capacity((w * h * 4) as usize);
    for _ in 0..w * h {
        rgba.extend_from_slice(&[rgb[0], rgb[1], rgb[2], 255]);
    }
    Frame {
        width: w,
        height: h,
        rgba,
    }
}

/// Copies `src` onto `dst` with its top-left corner at (x, y), clipping at the edges.
pub fn paste(dst: &mut Frame, src: &Frame, x: i64, y: i64) {
    for sy in 0..src.height as i64 {
        for sx in 0..src.width as i64 {
            let (dx, dy) = (x + sx, y + sy);
            if dx < 0 || dy < 0 || dx >= dst.width as i64 || dy >= dst.height as i64 {
                continue;
            }
            let si = ((sy * src.width as i64 + sx) * 4) as usize;
            let di = ((dy * dst.width as i64 + dx) * 4) as usize;
            dst.rgba[di..di + 4].copy_from_slice(&src.rgba[si..si + 4]);
        }
    }
}

/// The part of `src` in the box (whole pixels).
pub fn crop(src: &Frame, x: u32, y: u32, w: u32, h: u32) -> Frame {
    let mut out = canvas(w, h, [0, 0, 0]);
    paste(&mut out, src, -(x as i64), -(y as i64));
    out
}

/// Nearest-neighbour-free resize (bilinear through the image crate).
pub fn resize(src: &Frame, w: u32, h: u32) -> Frame {
    let img = image::RgbaImage::from_raw(src.width, src.height, src.rgba.clone()).expect("rgba");
    let out = image::imageops::resize(&img, w, h, image::imageops::FilterType::Triangle);
    Frame {
        width: w,
        height: h,
        rgba: out.into_raw(),
    }
}

/// Applies `f` to every RGB value.
pub fn map_pixels(src: &Frame, f: impl Fn(f32) -> f32) -> Frame {
    let mut out = src.clone();
    for px in out.rgba.chunks_exact_mut(4) {
        for c in &mut px[..3] {
            *c = f(*c as f32).round().clamp(0.0, 255.0) as u8;
        }
    }
    out
}

/// Gaussian blur with standard deviation `sigma` pixels.
pub fn blur(src: &Frame, sigma: f32) -> Frame {
    let img = image::RgbaImage::from_raw(src.width, src.height, src.rgba.clone()).expect("rgba");
    let out = image::imageops::blur(&img, sigma);
    Frame {
        width: src.width,
        height: src.height,
        rgba: out.into_raw(),
    }
}

/// Paints every pixel for which `inside(x, y)` holds (pixel centres) with `rgb`.
pub fn paint(dst: &mut Frame, rgb: [u8; 3], inside: impl Fn(f32, f32) -> bool) {
    for y in 0..dst.height {
        for x in 0..dst.width {
            if inside(x as f32 + 0.5, y as f32 + 0.5) {
                let i = ((y * dst.width + x) * 4) as usize;
                dst.rgba[i..i + 3].copy_from_slice(&rgb);
            }
        }
    }
}

/// Whether (x, y) lies in the ellipse centred on `c` with semi-axes `rx`, `ry`.
pub fn in_ellipse(x: f32, y: f32, c: Point, rx: f32, ry: f32) -> bool {
    ((x - c.x) / rx).powi(2) + ((y - c.y) / ry).powi(2) <= 1.0
}

/// Whether (x, y) lies in the box.
pub fn in_box(x: f32, y: f32, b: &BBox) -> bool {
    x >= b.x && x < b.x + b.width && y >= b.y && y < b.y + b.height
}

/// Mean RGB of the box.
pub fn mean_rgb(src: &Frame, b: &BBox) -> [u8; 3] {
    let mut sum = [0u64; 3];
    let mut n = 0u64;
    let (x0, y0, x1, y1) = b.clamp_pixels(src.width, src.height);
    for y in y0..y1 {
        for x in x0..x1 {
            let i = ((y * src.width + x) * 4) as usize;
            for (k, total) in sum.iter_mut().enumerate() {
                *total += src.rgba[i + k] as u64;
            }
            n += 1;
        }
    }
    sum.map(|s| (s / n.max(1)) as u8)
}

/// Asserts two runs of a model agree: the same outputs, each within 1e-4 of the largest
/// magnitude (at least 1) of the expected one.
pub fn assert_outputs_close(what: &str, got: &[Vec<f32>], want: &[Vec<f32>]) {
    assert_eq!(got.len(), want.len(), "{what}: number of outputs");
    for (g, w) in got.iter().zip(want) {
        assert_eq!(g.len(), w.len(), "{what}: output length");
        let diff = g
            .iter()
            .zip(w)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        let scale = w.iter().map(|v| v.abs()).fold(1.0, f32::max);
        assert!(
            diff <= 1e-4 * scale,
            "{what}: max |Δ| {diff} (scale {scale})"
        );
    }
}
