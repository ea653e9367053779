//! Moving scenes made from the still test photos, for the liveness tests:
//!
//! - a **3-D head**: the photo's own face mesh (x, y and the mesh's depth z) triangulated,
//!   rotated in 3-D and re-projected with a pinhole camera, the photo as its texture — the
//!   nearest to a live head turning that can be made without video of people;
//! - a **flat print**: the whole photo as a plane rotated by the same angles (one homography
//!   per frame), what holding up a printed photo or a phone screen does;
//! - screen and print artefacts: a pixel-grid (moiré) overlay and a reduced colour gamut.
//!
//! Angles follow `vision::mesh::HeadPose`: yaw > 0 turns the nose to the image's right
//! (the subject's own left), pitch > 0 turns it up.
#![allow(dead_code)]

use super::{canvas, paste, resize};
use liveform::frame::Frame;
use liveform::liveness::challenge::Step;
use liveform::liveness::rng::SplitMix64;
use liveform::vision::{analyze, AnalyzeOptions, Models};

/// The face outline of the MediaPipe mesh (FACEMESH_FACE_OVAL order).
const OUTLINE: [usize; 36] = [
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152,
    148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109,
];

/// Scene frames are this size (the camera's 640×480).
pub const W: u32 = 640;
pub const H: u32 = 480;

/// A face photo framed as a selfie: a square around the detected face (3.2 face widths)
/// scaled to 480 px, centred in a 640×480 grey frame; plus its face mesh (x, y, z) there.
pub struct Scene {
    pub frame: Frame,
    pub mesh: Vec<[f32; 3]>,
    /// The face centre (mean of the mesh), the rotation centre.
    pub centre: [f32; 3],
    /// Focal length of the pinhole camera, pixels.
    pub focal: f32,
}

impl Scene {
    pub fn new(models: &Models, photo: &Frame) -> Scene {
        let det = analyze(models, &photo.view().unwrap(), &AnalyzeOptions::default())
            .unwrap()
            .face
            .expect("a face in the photo")
            .detection
            .bbox;
        let side = (det.width.max(det.height) * 3.2).min(photo.width.min(photo.height) as f32);
        let c = det.center();
        let x0 = (c.x - side / 2.0).clamp(0.0, photo.width as f32 - side) as u32;
        let y0 = (c.y - side / 2.2).clamp(0.0, photo.height as f32 - side) as u32;
        let square = super::crop(photo, x0, y0, side as u32, side as u32);
        let square = resize(&square, H, H);
        let mut frame = canvas(W, H, [120, 120, 120]);
        paste(&mut frame, &square, ((W - H) / 2) as i64, 0);
        let opts = AnalyzeOptions {
            keep_landmarks: true,
            classifiers: false,
            ..AnalyzeOptions::default()
        };
        let face = analyze(models, &frame.view().unwrap(), &opts)
            .unwrap()
            .face
            .expect("a face in the scene");
        let mesh: Vec<[f32; 3]> = face
            .landmarks
            .chunks_exact(3)
            .map(|p| [p[0], p[1], p[2]])
            .collect();
        let n = mesh.len() as f32;
        let mut centre = [0.0f32; 3];
        for p in &mesh {
            for k in 0..3 {
                centre[k] += p[k] / n;
            }
        }
        let width = mesh.iter().map(|p| p[0]).fold(f32::MIN, f32::max)
            - mesh.iter().map(|p| p[0]).fold(f32::MAX, f32::min);
        // The rest of the head (hair, ears, neck) turns too: two rings of extra vertices
        // around the face outline, at the outline's depth and then half-way back towards
        // the frame plane, so the photo's own face edge is not left standing behind the
        // turned face. Outside the outer ring the frame stays still (the room).
        let mut mesh = mesh;
        for (scale, depth) in [(1.35f32, 1.0f32), (1.9, 0.4)] {
            for &i in &OUTLINE {
                let p = mesh[i];
                mesh.push([
                    centre[0] + (p[0] - centre[0]) * scale,
                    centre[1] + (p[1] - centre[1]) * scale,
                    centre[2] + (p[2] - centre[2]) * depth,
                ]);
            }
        }
        Scene {
            frame,
            mesh,
            centre,
            // A phone at arm's length: the face about a third of the focal length wide.
            focal: 3.0 * width,
        }
    }

    /// The head turned by (yaw, pitch) degrees: the textured mesh over the still frame.
    pub fn head(&self, yaw: f32, pitch: f32) -> Frame {
        let r = rotation(yaw, pitch);
        let c = self.centre;
        let projected: Vec<[f32; 3]> = self
            .mesh
            .iter()
            .map(|p| {
                let v = [p[0] - c[0], p[1] - c[1], p[2] - c[2]];
                let q = apply(&r, v);
                let s = self.focal / (self.focal + q[2]);
                [c[0] + q[0] * s, c[1] + q[1] * s, q[2]]
            })
            .collect();
        let tris = delaunay(&self.mesh.iter().map(|p| [p[0], p[1]]).collect::<Vec<_>>());
        let mut out = self.frame.clone();
        let mut depth = vec![f32::INFINITY; (W * H) as usize];
        for t in &tris {
            let (a, b, cc) = (projected[t[0]], projected[t[1]], projected[t[2]]);
            let (ta, tb, tc) = (self.mesh[t[0]], self.mesh[t[1]], self.mesh[t[2]]);
            let area = (b[0] - a[0]) * (cc[1] - a[1]) - (b[1] - a[1]) * (cc[0] - a[0]);
            if area.abs() < 1e-3 {
                continue;
            }
            let xmin = a[0].min(b[0]).min(cc[0]).floor().max(0.0) as u32;
            let xmax = a[0].max(b[0]).max(cc[0]).ceil().min(W as f32 - 1.0) as u32;
            let ymin = a[1].min(b[1]).min(cc[1]).floor().max(0.0) as u32;
            let ymax = a[1].max(b[1]).max(cc[1]).ceil().min(H as f32 - 1.0) as u32;
            for y in ymin..=ymax {
                for x in xmin..=xmax {
                    let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
                    let w0 = ((b[0] - px) * (cc[1] - py) - (b[1] - py) * (cc[0] - px)) / area;
                    let w1 = ((cc[0] - px) * (a[1] - py) - (cc[1] - py) * (a[0] - px)) / area;
                    let w2 = 1.0 - w0 - w1;
                    if w0 < -1e-4 || w1 < -1e-4 || w2 < -1e-4 {
                        continue;
                    }
                    let z = w0 * a[2] + w1 * b[2] + w2 * cc[2];
                    let i = (y * W + x) as usize;
                    if z >= depth[i] {
                        continue;
                    }
                    depth[i] = z;
                    let sx = w0 * ta[0] + w1 * tb[0] + w2 * tc[0];
                    let sy = w0 * ta[1] + w1 * tb[1] + w2 * tc[1];
                    let rgb = bilinear(&self.frame, sx, sy);
                    out.rgba[i * 4..i * 4 + 3].copy_from_slice(&rgb);
                }
            }
        }
        out
    }

    /// The whole frame as a flat picture turned by (yaw, pitch) degrees about the face centre.
    pub fn flat(&self, yaw: f32, pitch: f32) -> Frame {
        let r = rotation(yaw, pitch);
        let f = self.focal;
        let (cx, cy) = (self.centre[0], self.centre[1]);
        // The plane's normal after the turn; a camera ray meets the plane where n·Q = 0.
        let n = apply(&r, [0.0, 0.0, 1.0]);
        let mut out = canvas(W, H, [40, 40, 40]);
        for y in 0..H {
            for x in 0..W {
                let (u, v) = (x as f32 + 0.5 - cx, y as f32 + 0.5 - cy);
                let denom = n[0] * u + n[1] * v + n[2] * f;
                if denom.abs() < 1e-6 {
                    continue;
                }
                let t = f * n[2] / denom;
                let q = [t * u, t * v, t * f - f];
                // Back into the plane's own coordinates: Rᵀ q.
                let s = [
                    r[0][0] * q[0] + r[1][0] * q[1] + r[2][0] * q[2],
                    r[0][1] * q[0] + r[1][1] * q[1] + r[2][1] * q[2],
                ];
                let (sx, sy) = (cx + s[0], cy + s[1]);
                if sx < 0.0 || sy < 0.0 || sx >= W as f32 - 1.0 || sy >= H as f32 - 1.0 {
                    continue;
                }
                let i = ((y * W + x) * 4) as usize;
                out.rgba[i..i + 3].copy_from_slice(&bilinear(&self.frame, sx, sy));
            }
        }
        out
    }
}

/// Rotation: yaw about the vertical axis, then pitch about the horizontal one (x right,
/// y down, z away from the camera).
fn rotation(yaw: f32, pitch: f32) -> [[f32; 3]; 3] {
    let (sy, cy) = yaw.to_radians().sin_cos();
    let (sp, cp) = pitch.to_radians().sin_cos();
    let ry = [[cy, 0.0, -sy], [0.0, 1.0, 0.0], [sy, 0.0, cy]];
    let rp = [[1.0, 0.0, 0.0], [0.0, cp, sp], [0.0, -sp, cp]];
    let mut r = [[0.0f32; 3]; 3];
    for i in 0..3 {
        for j in 0..3 {
            r[i][j] = (0..3).map(|k| rp[i][k] * ry[k][j]).sum();
        }
    }
    r
}

fn apply(r: &[[f32; 3]; 3], v: [f32; 3]) -> [f32; 3] {
    [
        r[0][0] * v[0] + r[0][1] * v[1] + r[0][2] * v[2],
        r[1][0] * v[0] + r[1][1] * v[1] + r[1][2] * v[2],
        r[2][0] * v[0] + r[2][1] * v[1] + r[2][2] * v[2],
    ]
}

fn bilinear(f: &Frame, x: f32, y: f32) -> [u8; 3] {
    let x = x.clamp(0.0, f.width as f32 - 1.001);
    let y = y.clamp(0.0, f.height as f32 - 1.001);
    let (x0, y0) = (x.floor() as u32, y.floor() as u32);
    let (fx, fy) = (x - x0 as f32, y - y0 as f32);
    let at = |x: u32, y: u32, k: usize| f.rgba[((y * f.width + x) * 4) as usize + k] as f32;
    let mut out = [0u8; 3];
    for (k, o) in out.iter_mut().enumerate() {
        let top = at(x0, y0, k) * (1.0 - fx) + at(x0 + 1, y0, k) * fx;
        let bottom = at(x0, y0 + 1, k) * (1.0 - fx) + at(x0 + 1, y0 + 1, k) * fx;
        *o = (top * (1.0 - fy) + bottom * fy).round().clamp(0.0, 255.0) as u8;
    }
    out
}

/// Delaunay triangulation (Bowyer–Watson; O(n²), fine for the 468 mesh points).
pub fn delaunay(points: &[[f32; 2]]) -> Vec<[usize; 3]> {
    let n = points.len();
    let mut pts: Vec<[f64; 2]> = points.iter().map(|p| [p[0] as f64, p[1] as f64]).collect();
    let (mut minx, mut miny, mut maxx, mut maxy) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    for p in &pts {
        minx = minx.min(p[0]);
        miny = miny.min(p[1]);
        maxx = maxx.max(p[0]);
        maxy = maxy.max(p[1]);
    }
    let d = (maxx - minx).max(maxy - miny) * 20.0;
    let (mx, my) = ((minx + maxx) / 2.0, (miny + maxy) / 2.0);
    pts.push([mx - d, my - d]);
    pts.push([mx + d, my - d]);
    pts.push([mx, my + d]);
    let mut tris: Vec<[usize; 3]> = vec![[n, n + 1, n + 2]];
    let circum = |t: &[usize; 3], p: [f64; 2]| {
        let (a, b, c) = (pts[t[0]], pts[t[1]], pts[t[2]]);
        let (ax, ay, bx, by, cx, cy) = (
            a[0] - p[0],
            a[1] - p[1],
            b[0] - p[0],
            b[1] - p[1],
            c[0] - p[0],
            c[1] - p[1],
        );
        let det = (ax * ax + ay * ay) * (bx * cy - cx * by)
            - (bx * bx + by * by) * (ax * cy - cx * ay)
            + (cx * cx + cy * cy) * (ax * by - bx * ay);
        let orient = (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]);
        if orient > 0.0 {
            det > 0.0
        } else {
            det < 0.0
        }
    };
    for (i, &p) in pts.iter().enumerate().take(n) {
        let (bad, good): (Vec<[usize; 3]>, Vec<[usize; 3]>) =
            tris.iter().partition(|t| circum(t, p));
        let mut edges: Vec<[usize; 2]> = Vec::new();
        for t in &bad {
            for e in [[t[0], t[1]], [t[1], t[2]], [t[2], t[0]]] {
                let shared = bad.iter().any(|o| {
                    o != t && {
                        let oe = [[o[0], o[1]], [o[1], o[2]], [o[2], o[0]]];
                        oe.iter().any(|x| (x[0] == e[1] && x[1] == e[0]) || *x == e)
                    }
                });
                if !shared {
                    edges.push(e);
                }
            }
        }
        tris = good;
        for e in edges {
            tris.push([e[0], e[1], i]);
        }
    }
    tris.retain(|t| t.iter().all(|&v| v < n));
    tris
}

/// A camera's imperfections: sensor noise (about `sigma` grey levels, triangular) and a
/// hand-shake shift of up to a pixel, seeded.
pub fn camera_noise(f: &Frame, sigma: f32, rng: &mut SplitMix64) -> Frame {
    let (dx, dy) = (rng.below(3) as i64 - 1, rng.below(3) as i64 - 1);
    let (w, h) = (f.width as i64, f.height as i64);
    let mut out = f.clone();
    // Two uniforms on ±½ sum to a standard deviation of 1/√6: scale by √6·σ.
    let scale = 6f32.sqrt() * sigma;
    for y in 0..h {
        let sy = (y + dy).clamp(0, h - 1);
        for x in 0..w {
            let sx = (x + dx).clamp(0, w - 1);
            let (si, di) = (((sy * w + sx) * 4) as usize, ((y * w + x) * 4) as usize);
            let bits = rng.next_u64();
            for k in 0..3 {
                let u1 = ((bits >> (k * 20)) & 0x3ff) as f32 / 1023.0 - 0.5;
                let u2 = ((bits >> (k * 20 + 10)) & 0x3ff) as f32 / 1023.0 - 0.5;
                let v = f.rgba[si + k] as f32 + scale * (u1 + u2);
                out.rgba[di + k] = v.round().clamp(0.0, 255.0) as u8;
            }
        }
    }
    out
}

/// A screen seen by a camera: a pixel grid (period `period` px) multiplied in.
pub fn screen_grid(f: &Frame, period: f32, depth: f32) -> Frame {
    let mut out = f.clone();
    for y in 0..f.height {
        for x in 0..f.width {
            let gx = (2.0 * std::f32::consts::PI * x as f32 / period).cos();
            let gy = (2.0 * std::f32::consts::PI * y as f32 / period).cos();
            let m = 1.0 - depth * (0.5 + 0.25 * (gx + gy));
            let i = ((y * f.width + x) * 4) as usize;
            for k in 0..3 {
                out.rgba[i + k] = (out.rgba[i + k] as f32 * m).round().clamp(0.0, 255.0) as u8;
            }
        }
    }
    out
}

/// A print's narrow gamut: chroma pulled towards grey by `keep` (0..1).
pub fn reduced_gamut(f: &Frame, keep: f32) -> Frame {
    let mut out = f.clone();
    for px in out.rgba.chunks_exact_mut(4) {
        let y = 0.299 * px[0] as f32 + 0.587 * px[1] as f32 + 0.114 * px[2] as f32;
        for v in &mut px[..3] {
            *v = (y + keep * (*v as f32 - y)).round().clamp(0.0, 255.0) as u8;
        }
    }
    out
}

/// The head pose over time performing `steps` (same shape as the core's synthetic tracks:
/// 400 ms neutral, then per step a smooth 1.4 s movement out and back and a 0.3 s pause),
/// sampled at `fps`: `(t_ms, yaw, pitch)`. Blinks cannot be rendered; they hold still.
pub fn pose_path(steps: &[Step], fps: f64, amplitude: f32) -> Vec<(f64, f32, f32)> {
    let (lead, step_ms, pause_ms) = (400.0, 1400.0, 300.0);
    let total = lead + steps.len() as f64 * (step_ms + pause_ms) + 300.0;
    let mut out = Vec::new();
    let mut t = 0.0;
    while t <= total {
        let (mut yaw, mut pitch) = (0.0f32, 0.0f32);
        let k = ((t - lead) / (step_ms + pause_ms)).floor();
        if t >= lead && (k as usize) < steps.len() {
            let local = t - lead - k * (step_ms + pause_ms);
            if local < step_ms {
                let bump =
                    (std::f64::consts::PI * local / step_ms).sin().powi(2) as f32 * amplitude;
                match steps[k as usize] {
                    Step::TurnLeft => yaw = bump,
                    Step::TurnRight => yaw = -bump,
                    Step::LookUp => pitch = bump * 0.8,
                    Step::LookDown => pitch = -bump * 0.8,
                    Step::Blink => {}
                }
            }
        }
        out.push((t, yaw, pitch));
        t += 1000.0 / fps;
    }
    out
}
