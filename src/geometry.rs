//! Small 2-D geometry used by the vision pipeline: points, boxes and affine maps.
//!
//! Coordinates are continuous pixel coordinates: pixel `i` covers `[i, i+1)` and its centre
//! is `i + 0.5`. Every map between a model's input and the frame goes through [`Affine`].

use serde::{Deserialize, Serialize};

/// A point in frame pixels.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Point {
    pub x: f32,
    pub y: f32,
}

impl Point {
    pub fn new(x: f32, y: f32) -> Self {
        Point { x, y }
    }
    /// Euclidean distance to `o`.
    pub fn dist(self, o: Point) -> f32 {
        ((self.x - o.x).powi(2) + (self.y - o.y).powi(2)).sqrt()
    }
}

/// An axis-aligned box in frame pixels.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct BBox {
    pub x: f32,
    pub y: f32,
    pub width: f32,
    pub height: f32,
}

impl BBox {
    pub fn from_center(cx: f32, cy: f32, w: f32, h: f32) -> Self {
        BBox {
            x: cx - w / 2.0,
            y: cy - h / 2.0,
            width: w,
            height: h,
        }
    }
    pub fn center(&self) -> Point {
        Point::new(self.x + self.width / 2.0, self.y + self.height / 2.0)
    }
    pub fn area(&self) -> f32 {
        self.width.max(0.0) * self.height.max(0.0)
    }
    /// Intersection over union with `o` (0 when either box is empty).
    pub fn iou(&self, o: &BBox) -> f32 {
        let x0 = self.x.max(o.x);
        let y0 = self.y.max(o.y);
        let x1 = (self.x + self.width).min(o.x + o.width);
        let y1 = (self.y + self.height).min(o.y + o.height);
        let inter = (x1 - x0).max(0.0) * (y1 - y0).max(0.0);
        let union = self.area() + o.area() - inter;
        if union <= 0.0 {
            0.0
        } else {
            inter / union
        }
    }
    /// The part of this box inside a `w`×`h` frame, in whole pixels: (x0, y0, x1, y1), exclusive end.
    pub fn clamp_pixels(&self, w: u32, h: u32) -> (u32, u32, u32, u32) {
        let c = |v: f32, max: u32| (v.max(0.0) as u32).min(max);
        let x0 = c(self.x.floor(), w);
        let y0 = c(self.y.floor(), h);
        let x1 = c((self.x + self.width).ceil(), w);
        let y1 = c((self.y + self.height).ceil(), h);
        (x0, y0, x1.max(x0), y1.max(y0))
    }
}

/// An affine map `p ↦ (a·x + b·y + c, d·x + e·y + f)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Affine {
    pub a: f32,
    pub b: f32,
    pub c: f32,
    pub d: f32,
    pub e: f32,
    pub f: f32,
}

impl Affine {
    pub fn apply(&self, p: Point) -> Point {
        Point::new(
            self.a * p.x + self.b * p.y + self.c,
            self.d * p.x + self.e * p.y + self.f,
        )
    }
    /// Applies only the linear part (for vectors and lengths).
    pub fn apply_vec(&self, p: Point) -> Point {
        Point::new(self.a * p.x + self.b * p.y, self.d * p.x + self.e * p.y)
    }
    /// The map from a square `size`×`size` model input onto a rotated square of side `side`
    /// centred on `center` in the frame, whose x axis points along the unit vector `ex`.
    pub fn square_roi(center: Point, side: f32, ex: Point, size: u32) -> Self {
        let s = side / size as f32;
        // ey is ex turned a quarter clockwise in image coordinates (y grows downwards).
        let (ux, uy) = (ex.x * s, ex.y * s);
        let (vx, vy) = (-ex.y * s, ex.x * s);
        let half = size as f32 / 2.0;
        Affine {
            a: ux,
            b: vx,
            c: center.x - half * (ux + vx),
            d: uy,
            e: vy,
            f: center.y - half * (uy + vy),
        }
    }
}
