//! Multi-frame 3-D evidence: does the face move like one plane?
//!
//! A print or a screen is flat, so the image positions of its landmarks in any two frames are
//! related by one homography, whatever the photo does in space (turned, tilted, bent towards
//! the camera — as long as it stays flat). A real face is not flat: the nose tip stands
//! ≈ 0.5–0.7 inter-ocular distances (IOD) in front of the eye corners and the face outline
//! ≈ 0.6–0.9 IOD behind them, so when the head turns the nose moves across the cheeks
//! (parallax) and no homography explains all the points.
//!
//! For each frame we fit the best homography from the most frontal frame (the reference) to
//! it — normalised DLT (Hartley normalisation, null vector of AᵀA by Jacobi) refined by a few
//! Levenberg–Marquardt steps on the reprojection error — and take the RMS reprojection
//! residual (degrees-of-freedom corrected), divided by the reference frame's IOD.
//!
//! The landmark jitter sets a floor: fitting two frames of a flat object leaves ≈ 2σ (σ: the
//! per-coordinate jitter of each frame; the 2-D errors of both frames add), so the track's own floor is
//! measured on consecutive frames that differ by only a degree or two of pose (where even a
//! real face has no visible parallax), and the parallax is the part of the "turned" residual
//! above that floor: `parallax = √max(0, residual² − noise²)`. That makes the test
//! self-calibrating to the face size and jitter of the actual capture.
//!
//! A second, simpler cue: the nose tip's offset from the midpoint of the face outline along
//! the outline's axis (in units of outline width). It moves by ≈ 0.4–0.5 over a 25° turn of a
//! real head and stays put (≈ perspective only, < 0.1) on a turned photo.
//!
//! Measured on the synthetic head of the tests (a ≈200-px face, IOD 87 px, 24 frames,
//! 5 noise seeds; parallax and residuals in IOD units; `measured_residuals_table` prints it):
//!
//! | jitter σ | real parallax (min) at 10° / 15° / 25° yaw | photo residual (max) | photo parallax (max) |
//! |---|---|---|---|
//! | 0 px   | 0.062 / 0.087 / 0.137 | 0.000 | 0.000 |
//! | 0.5 px | 0.061 / 0.086 / 0.135 | 0.012 | 0.004 |
//! | 1.0 px | 0.061 / 0.084 / 0.133 | 0.025 | 0.009 |
//! | 1.5 px | 0.060 / 0.084 / 0.132 | 0.037 | 0.013 |
//! | 2.0 px | 0.060 / 0.083 / 0.130 | 0.048 | 0.017 |
//! | 3.0 px | 0.058 / 0.082 / 0.127 | 0.071 | 0.026 |
//!
//! Hence the defaults: flat below 0.02 (or half the floor), clearly 3-D from 0.045 (or the
//! floor), at least 12° of turn. These are synthetic numbers: the real mesh on real prints,
//! screens and heads must confirm them (the mesh model's face prior may bend a photo's
//! landmarks towards a 3-D head — the one effect the synthetic data cannot show).
//!
//! What it does not catch: a 3-D mask, a print bent into a cylinder, or a video replay of a
//! real head turning (the replayed landmarks have real parallax). The randomised challenge
//! (timing and order) and the screen cues address the replay; nothing here addresses masks.
#![allow(clippy::needless_range_loop)] // index loops read like the matrix algebra they are

use crate::error::{Error, ErrorCode, Result};
use crate::liveness::linalg::{smallest_eigenvector, solve};
use serde::{Deserialize, Serialize};

/// MediaPipe face-mesh indices tracked for the 3-D evidence, spread over the face: the face
/// outline (36), nose ridge and wings, eye corners and lids, brows, mouth and cheeks. The
/// order is part of the upload format: `LandmarkFrame::points[i]` is mesh point
/// `TRACK_POINTS[i]`.
pub const TRACK_POINTS: [usize; 62] = [
    // Face outline (FACEMESH_FACE_OVAL, clockwise from the top of the forehead).
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152,
    148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109,
    // Nose ridge (between the eyes → tip → below the tip) and wings.
    168, 6, 197, 195, 5, 4, 1, 2, 98, 327,
    // Eyes: subject's right outer, inner, upper, lower; left inner, outer, upper, lower.
    33, 133, 159, 145, 362, 263, 386, 374,
    // Brows (one point each), mouth corners, upper and lower lip, cheeks.
    105, 334, 61, 291, 0, 17, 50, 280,
];

/// Where the points `planarity_evidence` needs are inside a frame's point list.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrackLayout {
    pub nose_tip: usize,
    /// The subject's right eye corners (both averaged give the eye centre).
    pub right_eye: [usize; 2],
    pub left_eye: [usize; 2],
    /// The face outline's subject-right and subject-left extremes.
    pub right_edge: usize,
    pub left_edge: usize,
}

/// The layout of [`TRACK_POINTS`].
pub const TRACK_LAYOUT: TrackLayout = TrackLayout {
    nose_tip: 42,        // mesh 1
    right_eye: [46, 47], // mesh 33, 133
    left_eye: [50, 51],  // mesh 362, 263
    right_edge: 28,      // mesh 234
    left_edge: 8,        // mesh 454
};

/// Picks [`TRACK_POINTS`] out of a full 468-point mesh's (x, y) in frame pixels.
pub fn select_track_points(mesh_xy: &[[f32; 2]]) -> Option<Vec<[f32; 2]>> {
    TRACK_POINTS
        .iter()
        .map(|&i| mesh_xy.get(i).copied())
        .collect()
}

/// One frame of a landmark track: time, the mesh's head pose (degrees, as
/// `vision::mesh::HeadPose`) and the tracked points in frame pixels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LandmarkFrame {
    pub t_ms: f64,
    pub yaw: f32,
    pub pitch: f32,
    pub points: Vec<[f32; 2]>,
}

/// Thresholds of the planarity test. All residuals are in units of the reference frame's
/// inter-ocular distance (eye centre to eye centre).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PlanarityConfig {
    /// Fewer usable frames: inconclusive.
    pub min_frames: usize,
    /// A smaller pose range (degrees, the larger of yaw range and pitch range): inconclusive —
    /// there was not enough turn to show parallax.
    pub min_turn_deg: f32,
    /// Frames at least this share of the largest pose distance from the reference count as
    /// "turned" and make up `residual_norm`.
    pub turned_share: f32,
    /// Consecutive frames whose pose differs by at most this many degrees measure the noise
    /// floor.
    pub noise_pair_max_deg: f32,
    /// Noise floor used when the track has fewer than 3 such pairs (IOD units).
    pub assumed_noise_norm: f32,
    /// Parallax below this with enough turn: flat (a veto). See the module tests for the
    /// measured values behind the defaults.
    pub flat_below: f32,
    /// Parallax at or above this: clearly 3-D (score 100).
    pub real_above: f32,
    /// With a noisy track the thresholds grow with the floor: flat below
    /// max(`flat_below`, `flat_noise_ratio` · noise), 3-D from
    /// max(`real_above`, `real_noise_ratio` · noise). (A photo's leftover "parallax" after
    /// the floor is subtracted is estimation noise, ≤ 0.37 × the floor in the tests.)
    pub flat_noise_ratio: f32,
    pub real_noise_ratio: f32,
    /// With a yaw range of at least `min_turn_deg`, the nose tip must shift across the face
    /// outline by at least this many outline widths per degree of yaw (a real head:
    /// ≈ 0.016/°; a turned photo: perspective only, ≈ 0.001/°). Less: the "turn" shows no
    /// head-like parallax, and a 3-D verdict is downgraded to uncertain.
    pub min_nose_shift_per_deg: f32,
}

impl PlanarityConfig {
    /// Every value finite and ≥ 0, `flat_below` < `real_above`, `turned_share` ≤ 1.
    pub fn is_valid(&self) -> bool {
        let all = [
            self.min_turn_deg,
            self.turned_share,
            self.noise_pair_max_deg,
            self.assumed_noise_norm,
            self.flat_below,
            self.real_above,
            self.flat_noise_ratio,
            self.real_noise_ratio,
            self.min_nose_shift_per_deg,
        ];
        all.iter().all(|v| v.is_finite() && *v >= 0.0)
            && self.flat_below < self.real_above
            && self.turned_share <= 1.0
    }
}

impl Default for PlanarityConfig {
    fn default() -> Self {
        PlanarityConfig {
            min_frames: 6,
            min_turn_deg: 12.0,
            turned_share: 0.6,
            noise_pair_max_deg: 3.0,
            assumed_noise_norm: 0.045,
            flat_below: 0.02,
            real_above: 0.045,
            flat_noise_ratio: 0.5,
            real_noise_ratio: 1.0,
            min_nose_shift_per_deg: 0.006,
        }
    }
}

/// The planarity verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanarityVerdict {
    /// Clear parallax: the landmarks do not move as one plane.
    ThreeD,
    /// Some parallax, below the clear level: counts with a reduced score, no veto.
    Uncertain,
    /// Enough turn and no parallax beyond the noise: a flat picture.
    Flat,
    /// Too few frames or too little turn to tell.
    Inconclusive,
}

/// The measured 3-D evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanarityEvidence {
    pub verdict: PlanarityVerdict,
    /// 0..100: 0 at the flat threshold or less, 100 at the 3-D threshold or more, linear
    /// between (see [`PlanarityConfig`]); at most 50 when not `pose_consistent`; 0 when
    /// inconclusive.
    pub score: f32,
    /// Range of the mesh's yaw over the used frames, degrees.
    pub max_yaw_range_deg: f32,
    /// Range of the mesh's pitch, degrees.
    pub max_pitch_range_deg: f32,
    /// RMS homography residual of the turned frames against the reference, IOD units.
    pub residual_norm: f32,
    /// The jitter floor (consecutive near-equal-pose frames), IOD units.
    pub noise_norm: f32,
    /// Whether `noise_norm` was measured on the track (else the configured assumption).
    pub noise_measured: bool,
    /// √max(0, residual² − noise²), IOD units: the decisive number.
    pub parallax_norm: f32,
    /// Range of the nose tip's offset from the outline midpoint, in outline widths.
    pub nose_shift_range: f32,
    /// Whether the nose shift fits the yaw range the mesh reported (true when the yaw range
    /// is below `min_turn_deg`: nothing to compare).
    pub pose_consistent: bool,
    /// Frames with a successful fit (the reference included).
    pub frames_used: usize,
    /// Index of the reference (most frontal) frame.
    pub reference_frame: usize,
    /// Reference inter-ocular distance in pixels.
    pub iod_px: f32,
}

/// A homography fit: `h` maps source points to destination points (row-major 3×3,
/// h[8] = 1), `rms_px` is the degrees-of-freedom corrected RMS reprojection error
/// √(Σ|e|² / (N − 4)) in destination pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HomographyFit {
    pub h: [f64; 9],
    pub rms_px: f64,
}

/// Applies a row-major 3×3 homography; `None` at infinity.
pub fn apply_homography(h: &[f64; 9], p: [f64; 2]) -> Option<[f64; 2]> {
    let w = h[6] * p[0] + h[7] * p[1] + h[8];
    if w.abs() < 1e-12 {
        return None;
    }
    Some([
        (h[0] * p[0] + h[1] * p[1] + h[2]) / w,
        (h[3] * p[0] + h[4] * p[1] + h[5]) / w,
    ])
}

/// Hartley normalisation: translate the centroid to the origin and scale the mean distance
/// to √2. Returns (normalised points, s, cx, cy) with x' = s (x − cx).
fn normalise(pts: &[[f64; 2]]) -> Option<(Vec<[f64; 2]>, f64, f64, f64)> {
    let n = pts.len() as f64;
    let cx = pts.iter().map(|p| p[0]).sum::<f64>() / n;
    let cy = pts.iter().map(|p| p[1]).sum::<f64>() / n;
    let md = pts
        .iter()
        .map(|p| (p[0] - cx).hypot(p[1] - cy))
        .sum::<f64>()
        / n;
    if md <= 1e-9 || !md.is_finite() {
        return None;
    }
    let s = std::f64::consts::SQRT_2 / md;
    Some((
        pts.iter()
            .map(|p| [s * (p[0] - cx), s * (p[1] - cy)])
            .collect(),
        s,
        cx,
        cy,
    ))
}

/// Reprojection residuals (dx, dy) of `h` on the point pairs.
fn residuals(h: &[f64; 9], src: &[[f64; 2]], dst: &[[f64; 2]]) -> Option<Vec<[f64; 2]>> {
    src.iter()
        .zip(dst)
        .map(|(s, d)| apply_homography(h, *s).map(|q| [q[0] - d[0], q[1] - d[1]]))
        .collect()
}

fn sum_sq(r: &[[f64; 2]]) -> f64 {
    r.iter().map(|e| e[0] * e[0] + e[1] * e[1]).sum()
}

/// Fits the homography `src → dst` (at least 5 point pairs, in general position). `None`
/// for degenerate input (collinear or coincident points, non-finite values).
pub fn fit_homography(src: &[[f64; 2]], dst: &[[f64; 2]]) -> Option<HomographyFit> {
    let n = src.len();
    if n < 5
        || dst.len() != n
        || src
            .iter()
            .chain(dst)
            .any(|p| !p[0].is_finite() || !p[1].is_finite())
    {
        return None;
    }
    let (a, sa, ax, ay) = normalise(src)?;
    let (b, sb, bx, by) = normalise(dst)?;

    // DLT: each pair gives two rows of A h = 0; h is the null vector of AᵀA.
    let mut ata = [[0.0f64; 9]; 9];
    for (p, q) in a.iter().zip(&b) {
        let (x, y, u, v) = (p[0], p[1], q[0], q[1]);
        let r1 = [-x, -y, -1.0, 0.0, 0.0, 0.0, u * x, u * y, u];
        let r2 = [0.0, 0.0, 0.0, -x, -y, -1.0, v * x, v * y, v];
        for r in [r1, r2] {
            for i in 0..9 {
                for j in i..9 {
                    ata[i][j] += r[i] * r[j];
                }
            }
        }
    }
    for i in 0..9 {
        for j in 0..i {
            ata[i][j] = ata[j][i];
        }
    }
    let (hn, _) = smallest_eigenvector(ata);
    if hn[8].abs() < 1e-9 {
        return None;
    }
    let mut h = [0.0; 9];
    for i in 0..9 {
        h[i] = hn[i] / hn[8];
    }

    // Levenberg–Marquardt on the 8 free entries (h[8] = 1), in normalised coordinates (the
    // normalisation is an isotropic scale, so this minimises the pixel error too).
    let mut r = residuals(&h, &a, &b)?;
    let mut cost = sum_sq(&r);
    let mut lambda = 1e-3;
    for _ in 0..15 {
        let mut jtj = [[0.0f64; 8]; 8];
        let mut jtr = [0.0f64; 8];
        for (p, e) in a.iter().zip(&r) {
            let (x, y) = (p[0], p[1]);
            let w = h[6] * x + h[7] * y + h[8];
            let u = (h[0] * x + h[1] * y + h[2]) / w;
            let v = (h[3] * x + h[4] * y + h[5]) / w;
            let ju = [x / w, y / w, 1.0 / w, 0.0, 0.0, 0.0, -u * x / w, -u * y / w];
            let jv = [0.0, 0.0, 0.0, x / w, y / w, 1.0 / w, -v * x / w, -v * y / w];
            for i in 0..8 {
                jtr[i] += ju[i] * e[0] + jv[i] * e[1];
                for j in 0..8 {
                    jtj[i][j] += ju[i] * ju[j] + jv[i] * jv[j];
                }
            }
        }
        let mut improved = false;
        for _ in 0..6 {
            let mut m = jtj;
            for (i, row) in m.iter_mut().enumerate() {
                row[i] += lambda * (jtj[i][i] + 1e-12);
            }
            let neg: [f64; 8] = jtr.map(|g| -g);
            let Some(d) = solve(m, neg) else {
                lambda *= 10.0;
                continue;
            };
            let mut cand = h;
            for i in 0..8 {
                cand[i] += d[i];
            }
            match residuals(&cand, &a, &b) {
                Some(rc) if sum_sq(&rc) < cost => {
                    h = cand;
                    cost = sum_sq(&rc);
                    r = rc;
                    lambda = (lambda * 0.3).max(1e-12);
                    improved = true;
                    break;
                }
                _ => lambda *= 10.0,
            }
        }
        if !improved || cost < 1e-24 {
            break;
        }
    }

    // Back to pixels: H = Tb⁻¹ Hn Ta, with Ta = [[sa,0,-sa ax],[0,sa,-sa ay],[0,0,1]].
    let ta = [[sa, 0.0, -sa * ax], [0.0, sa, -sa * ay], [0.0, 0.0, 1.0]];
    let tb_inv = [[1.0 / sb, 0.0, bx], [0.0, 1.0 / sb, by], [0.0, 0.0, 1.0]];
    let hm = [[h[0], h[1], h[2]], [h[3], h[4], h[5]], [h[6], h[7], h[8]]];
    let mul = |x: [[f64; 3]; 3], y: [[f64; 3]; 3]| {
        let mut z = [[0.0; 3]; 3];
        for i in 0..3 {
            for j in 0..3 {
                z[i][j] = (0..3).map(|k| x[i][k] * y[k][j]).sum();
            }
        }
        z
    };
    let full = mul(tb_inv, mul(hm, ta));
    if full[2][2].abs() < 1e-15 {
        return None;
    }
    let mut out = [0.0; 9];
    for i in 0..3 {
        for j in 0..3 {
            out[i * 3 + j] = full[i][j] / full[2][2];
        }
    }
    let rp = residuals(&out, src, dst)?;
    let rms_px = (sum_sq(&rp) / (n as f64 - 4.0)).sqrt();
    rms_px
        .is_finite()
        .then_some(HomographyFit { h: out, rms_px })
}

fn to_f64(points: &[[f32; 2]]) -> Vec<[f64; 2]> {
    points.iter().map(|p| [p[0] as f64, p[1] as f64]).collect()
}

fn mid(a: [f32; 2], b: [f32; 2]) -> [f64; 2] {
    [
        (a[0] as f64 + b[0] as f64) / 2.0,
        (a[1] as f64 + b[1] as f64) / 2.0,
    ]
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let m = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    })
}

/// Measures the 3-D evidence of a landmark track (a head turn of at least `min_turn_deg`).
///
/// Errors (`bad_input`) for structurally bad tracks: frames with differing point counts,
/// fewer than 8 points, a layout index outside the points. Frames with non-finite values or
/// a degenerate fit are skipped (they lower `frames_used`).
pub fn planarity_evidence(
    frames: &[LandmarkFrame],
    layout: &TrackLayout,
    cfg: &PlanarityConfig,
) -> Result<PlanarityEvidence> {
    let bad = |m: &str| Error::new(ErrorCode::BadInput, format!("landmark track: {m}"));
    if !cfg.is_valid() {
        return Err(bad("invalid planarity configuration"));
    }
    let n = frames.first().map(|f| f.points.len()).unwrap_or(0);
    if frames.iter().any(|f| f.points.len() != n) {
        return Err(bad("frames have different point counts"));
    }
    let max_idx = [
        layout.nose_tip,
        layout.right_eye[0],
        layout.right_eye[1],
        layout.left_eye[0],
        layout.left_eye[1],
        layout.right_edge,
        layout.left_edge,
    ]
    .into_iter()
    .max()
    .unwrap_or(0);
    if !frames.is_empty() && (n < 8 || max_idx >= n) {
        return Err(bad(
            "fewer than 8 points, or the layout points outside them",
        ));
    }
    let finite = |f: &LandmarkFrame| {
        f.t_ms.is_finite()
            && f.yaw.is_finite()
            && f.pitch.is_finite()
            && f.points
                .iter()
                .all(|p| p[0].is_finite() && p[1].is_finite())
    };
    let usable: Vec<&LandmarkFrame> = frames.iter().filter(|f| finite(f)).collect();
    let mut ev = PlanarityEvidence {
        verdict: PlanarityVerdict::Inconclusive,
        score: 0.0,
        max_yaw_range_deg: 0.0,
        max_pitch_range_deg: 0.0,
        residual_norm: 0.0,
        noise_norm: cfg.assumed_noise_norm,
        noise_measured: false,
        parallax_norm: 0.0,
        nose_shift_range: 0.0,
        pose_consistent: true,
        frames_used: 0,
        reference_frame: 0,
        iod_px: 0.0,
    };
    if usable.len() < 2 {
        return Ok(ev);
    }

    // Reference: the most frontal frame.
    let pose_dist = |a: &LandmarkFrame, yaw: f32, pitch: f32| {
        ((a.yaw - yaw) as f64).hypot((a.pitch - pitch) as f64)
    };
    let r = (0..usable.len())
        .min_by(|&i, &j| pose_dist(usable[i], 0.0, 0.0).total_cmp(&pose_dist(usable[j], 0.0, 0.0)))
        .unwrap_or(0);
    let rf = usable[r];
    ev.reference_frame = frames.iter().position(|f| std::ptr::eq(f, rf)).unwrap_or(0);
    let iod = {
        let a = mid(
            rf.points[layout.right_eye[0]],
            rf.points[layout.right_eye[1]],
        );
        let b = mid(rf.points[layout.left_eye[0]], rf.points[layout.left_eye[1]]);
        (a[0] - b[0]).hypot(a[1] - b[1])
    };
    if iod <= 1.0 || !iod.is_finite() {
        return Ok(ev);
    }
    ev.iod_px = iod as f32;
    let src = to_f64(&rf.points);

    // Fit every frame against the reference.
    let mut fitted: Vec<(f64, f64)> = Vec::new(); // (pose distance, residual in IOD)
    let mut used: Vec<&LandmarkFrame> = vec![rf];
    for (i, f) in usable.iter().enumerate() {
        if i == r {
            continue;
        }
        if let Some(fit) = fit_homography(&src, &to_f64(&f.points)) {
            fitted.push((pose_dist(f, rf.yaw, rf.pitch), fit.rms_px / iod));
            used.push(f);
        }
    }
    ev.frames_used = used.len();
    let range = |g: &dyn Fn(&LandmarkFrame) -> f32| {
        let (lo, hi) = used.iter().fold((f32::MAX, f32::MIN), |(lo, hi), f| {
            (lo.min(g(f)), hi.max(g(f)))
        });
        hi - lo
    };
    ev.max_yaw_range_deg = range(&|f| f.yaw);
    ev.max_pitch_range_deg = range(&|f| f.pitch);
    ev.nose_shift_range = range(&|f| {
        let (a, b) = (f.points[layout.right_edge], f.points[layout.left_edge]);
        let e = [(b[0] - a[0]) as f64, (b[1] - a[1]) as f64];
        let m = mid(a, b);
        let nose = f.points[layout.nose_tip];
        let d = [nose[0] as f64 - m[0], nose[1] as f64 - m[1]];
        let e2 = e[0] * e[0] + e[1] * e[1];
        if e2 > 1e-9 {
            ((d[0] * e[0] + d[1] * e[1]) / e2) as f32
        } else {
            0.0
        }
    });

    // Noise floor: consecutive usable frames of nearly equal pose.
    let mut pair_res = Vec::new();
    for w in usable.windows(2) {
        if pose_dist(w[1], w[0].yaw, w[0].pitch) <= cfg.noise_pair_max_deg as f64 {
            if let Some(fit) = fit_homography(&to_f64(&w[0].points), &to_f64(&w[1].points)) {
                pair_res.push(fit.rms_px / iod);
            }
        }
    }
    if pair_res.len() >= 3 {
        ev.noise_norm = median(pair_res).unwrap_or(0.0) as f32;
        ev.noise_measured = true;
    }

    let far = fitted.iter().map(|f| f.0).fold(0.0f64, f64::max);
    let turned: Vec<f64> = fitted
        .iter()
        .filter(|f| f.0 >= cfg.turned_share as f64 * far)
        .map(|f| f.1)
        .collect();
    if !turned.is_empty() {
        ev.residual_norm =
            (turned.iter().map(|x| x * x).sum::<f64>() / turned.len() as f64).sqrt() as f32;
    }
    let nn = ev.noise_norm as f64;
    ev.parallax_norm = ((ev.residual_norm as f64).powi(2) - nn * nn)
        .max(0.0)
        .sqrt() as f32;

    if ev.max_yaw_range_deg >= cfg.min_turn_deg {
        ev.pose_consistent =
            ev.nose_shift_range >= cfg.min_nose_shift_per_deg * ev.max_yaw_range_deg;
    }
    let turn = ev.max_yaw_range_deg.max(ev.max_pitch_range_deg);
    if ev.frames_used < cfg.min_frames || turn < cfg.min_turn_deg || turned.is_empty() {
        return Ok(ev);
    }
    let flat_thr = cfg.flat_below.max(cfg.flat_noise_ratio * ev.noise_norm);
    let real_thr = cfg
        .real_above
        .max(cfg.real_noise_ratio * ev.noise_norm)
        .max(flat_thr + 1e-6);
    ev.score = (100.0 * (ev.parallax_norm - flat_thr) / (real_thr - flat_thr)).clamp(0.0, 100.0);
    if !ev.pose_consistent {
        ev.score = ev.score.min(50.0);
    }
    ev.verdict = if ev.parallax_norm < flat_thr {
        PlanarityVerdict::Flat
    } else if ev.parallax_norm >= real_thr && ev.pose_consistent {
        PlanarityVerdict::ThreeD
    } else {
        PlanarityVerdict::Uncertain
    };
    Ok(ev)
}

#[cfg(test)]
pub(crate) mod synth {
    //! A canonical face written from average proportions, in IOD units (eye centre to eye
    //! centre = 1; ≈ 63 mm): x to the image's right when the face looks at the camera (the
    //! subject's left), y down, z towards the camera. Origin between the eyes; the eye
    //! corners are the 0-depth reference, the nose tip is 0.6 in front, the face outline up
    //! to 0.8 behind. Point order = `TRACK_POINTS`.
    use super::*;
    use crate::liveness::rng::SplitMix64;

    pub fn canonical_face() -> Vec<[f64; 3]> {
        // Subject-left half of the outline, top to bottom (x ≥ 0), mirrored for the right.
        // (mesh index pairs right/left: 109/338, 67/297, 103/332, 54/284, 21/251, 162/389,
        // 127/356, 234/454, 93/323, 132/361, 58/288, 172/397, 136/365, 150/379, 149/378,
        // 176/400, 148/377)
        let outline_left: [[f64; 3]; 17] = [
            [0.20, -1.24, -0.12], // 338
            [0.42, -1.19, -0.20], // 297
            [0.62, -1.10, -0.30], // 332
            [0.82, -0.96, -0.42], // 284
            [0.97, -0.78, -0.55], // 251
            [1.08, -0.55, -0.66], // 389
            [1.14, -0.22, -0.75], // 356
            [1.16, 0.15, -0.80],  // 454
            [1.13, 0.55, -0.76],  // 323
            [1.06, 0.90, -0.68],  // 361
            [0.96, 1.22, -0.57],  // 288
            [0.84, 1.50, -0.45],  // 397
            [0.68, 1.72, -0.32],  // 365
            [0.52, 1.86, -0.20],  // 379
            [0.38, 1.94, -0.11],  // 378
            [0.25, 1.99, -0.04],  // 400
            [0.12, 2.02, 0.00],   // 377
        ];
        let mirror = |p: [f64; 3]| [-p[0], p[1], p[2]];
        let mut pts = Vec::with_capacity(62);
        pts.push([0.0, -1.27, -0.08]); // 10
        pts.extend(outline_left); // 338 … 377
        pts.push([0.0, 2.04, 0.02]); // 152
                                     // 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109:
                                     // the right side bottom to top = mirrored left side in reverse.
        for p in outline_left.iter().rev() {
            pts.push(mirror(*p));
        }
        // Nose: 168, 6, 197, 195, 5, 4, 1 (tip), 2, 98, 327.
        pts.extend([
            [0.0, -0.02, 0.12],
            [0.0, 0.16, 0.20],
            [0.0, 0.34, 0.30],
            [0.0, 0.50, 0.40],
            [0.0, 0.66, 0.50],
            [0.0, 0.80, 0.57],
            [0.0, 0.90, 0.60],
            [0.0, 1.03, 0.36],
            [-0.26, 0.98, 0.16],
            [0.26, 0.98, 0.16],
        ]);
        // Eyes: 33, 133, 159, 145 (right: x < 0); 362, 263, 386, 374.
        pts.extend([
            [-0.76, 0.02, -0.12],
            [-0.24, 0.02, 0.00],
            [-0.50, -0.08, 0.06],
            [-0.50, 0.08, 0.04],
            [0.24, 0.02, 0.00],
            [0.76, 0.02, -0.12],
            [0.50, -0.08, 0.06],
            [0.50, 0.08, 0.04],
        ]);
        // 105, 334 (brows), 61, 291 (mouth corners), 0, 17 (lips), 50, 280 (cheeks).
        pts.extend([
            [-0.55, -0.36, 0.02],
            [0.55, -0.36, 0.02],
            [-0.44, 1.38, 0.04],
            [0.44, 1.38, 0.04],
            [0.0, 1.22, 0.30],
            [0.0, 1.55, 0.24],
            [-0.66, 0.55, 0.02],
            [0.66, 0.55, 0.02],
        ]);
        assert_eq!(pts.len(), TRACK_POINTS.len());
        pts
    }

    /// A perspective camera: focal length and principal point in pixels; the scene is in IOD
    /// units, `iod_px` pixels per IOD at distance `dist` (so f = iod_px · dist).
    #[derive(Clone, Copy)]
    pub struct Camera {
        pub iod_px: f64,
        pub dist: f64,
        pub cx: f64,
        pub cy: f64,
    }

    impl Camera {
        /// ≈ a 200-px-wide face (outline 2.3 IOD) at 40 cm from a 640×480 front camera.
        pub fn selfie() -> Camera {
            Camera {
                iod_px: 87.0,
                dist: 6.35,
                cx: 320.0,
                cy: 240.0,
            }
        }
        /// Projects camera-space points (x right, y down, z towards the camera, the face
        /// `dist` in front of the lens).
        pub fn project(&self, p: [f64; 3]) -> [f64; 2] {
            let f = self.iod_px * self.dist;
            let depth = self.dist - p[2];
            [self.cx + f * p[0] / depth, self.cy + f * p[1] / depth]
        }
    }

    /// Rotation by yaw (about y; positive turns the nose, +z, towards +x = image right),
    /// pitch (positive: nose up, towards −y) and roll (about z), in degrees.
    pub fn rotate(p: [f64; 3], yaw: f64, pitch: f64, roll: f64) -> [f64; 3] {
        let (sy, cy) = yaw.to_radians().sin_cos();
        let (sp, cp) = pitch.to_radians().sin_cos();
        let (sr, cr) = roll.to_radians().sin_cos();
        // yaw: z → x
        let a = [p[0] * cy + p[2] * sy, p[1], -p[0] * sy + p[2] * cy];
        // pitch: z → −y
        let b = [a[0], a[1] * cp - a[2] * sp, a[1] * sp + a[2] * cp];
        // roll
        [b[0] * cr - b[1] * sr, b[0] * sr + b[1] * cr, b[2]]
    }

    /// Yaw/pitch/roll (degrees) and translation (IOD) of the head for frame `k` of `n` of a
    /// turn from 0 to `max_yaw` (and a nod to `max_pitch`), with a little natural wobble.
    pub fn pose_path(k: usize, n: usize, max_yaw: f64, max_pitch: f64) -> ([f64; 3], [f64; 3]) {
        let s = k as f64 / (n - 1) as f64;
        let yaw = max_yaw * s;
        let pitch = max_pitch * s + 2.0 * (s * 5.0).sin();
        let roll = 1.5 * (s * 3.0).sin();
        let t = [0.15 * s, 0.05 * (s * 4.0).sin(), 0.1 * s];
        ([yaw, pitch, roll], t)
    }

    fn jitter(p: [f64; 2], noise_px: f64, rng: &mut SplitMix64) -> [f32; 2] {
        [
            (p[0] + noise_px * rng.gaussian()) as f32,
            (p[1] + noise_px * rng.gaussian()) as f32,
        ]
    }

    /// A real head turning: the canonical face rotated about a neck-ish pivot 1.6 IOD
    /// behind the eyes, translated, projected; `noise_px` Gaussian jitter per coordinate.
    pub fn real_turn(n: usize, max_yaw: f64, noise_px: f64, seed: u64) -> Vec<LandmarkFrame> {
        real_motion(n, max_yaw, 0.0, noise_px, seed)
    }

    pub fn real_motion(
        n: usize,
        max_yaw: f64,
        max_pitch: f64,
        noise_px: f64,
        seed: u64,
    ) -> Vec<LandmarkFrame> {
        let face = canonical_face();
        let cam = Camera::selfie();
        let mut rng = SplitMix64::new(seed);
        let pivot = -1.6;
        (0..n)
            .map(|k| {
                let ([yaw, pitch, roll], t) = pose_path(k, n, max_yaw, max_pitch);
                let points = face
                    .iter()
                    .map(|&p| {
                        let q = rotate([p[0], p[1], p[2] - pivot], yaw, pitch, roll);
                        let q = [q[0] + t[0], q[1] + t[1], q[2] + pivot + t[2]];
                        jitter(cam.project(q), noise_px, &mut rng)
                    })
                    .collect();
                LandmarkFrame {
                    t_ms: k as f64 * 66.0,
                    yaw: yaw as f32,
                    pitch: pitch as f32,
                    points,
                }
            })
            .collect()
    }

    /// A photo of the face (its frontal picture printed at `print_scale` × life size) held in
    /// front of the camera and turned the same way; the frames claim the photo's rotation as
    /// the head pose (the worst case: the mesh believes the turn).
    pub fn flat_turn(
        n: usize,
        max_yaw: f64,
        noise_px: f64,
        seed: u64,
        print_scale: f64,
    ) -> Vec<LandmarkFrame> {
        flat_motion(n, max_yaw, 0.0, noise_px, seed, print_scale)
    }

    pub fn flat_motion(
        n: usize,
        max_yaw: f64,
        max_pitch: f64,
        noise_px: f64,
        seed: u64,
        print_scale: f64,
    ) -> Vec<LandmarkFrame> {
        let face = canonical_face();
        let cam = Camera::selfie();
        let mut rng = SplitMix64::new(seed);
        // The print: the frontal perspective picture, scaled, lying in the plane z = 0.
        let print: Vec<[f64; 3]> = face
            .iter()
            .map(|&p| {
                let q = cam.project(p);
                [
                    print_scale * (q[0] - cam.cx) / cam.iod_px,
                    print_scale * (q[1] - cam.cy) / cam.iod_px,
                    0.0,
                ]
            })
            .collect();
        // Held closer when smaller, so the face fills a similar part of the frame.
        let closer = cam.dist * (1.0 - print_scale);
        (0..n)
            .map(|k| {
                let ([yaw, pitch, roll], t) = pose_path(k, n, max_yaw, max_pitch);
                let points = print
                    .iter()
                    .map(|&p| {
                        let q = rotate(p, yaw, pitch, roll);
                        let q = [q[0] + t[0], q[1] + t[1], q[2] + t[2] + closer];
                        jitter(cam.project(q), noise_px, &mut rng)
                    })
                    .collect();
                LandmarkFrame {
                    t_ms: k as f64 * 66.0,
                    yaw: yaw as f32,
                    pitch: pitch as f32,
                    points,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::synth::*;
    use super::*;
    use crate::liveness::rng::SplitMix64;

    #[test]
    fn homography_recovers_an_exact_plane_mapping() {
        let h = [1.1, 0.05, 12.0, -0.03, 0.95, -7.0, 2e-4, -1e-4, 1.0];
        let mut rng = SplitMix64::new(3);
        let src: Vec<[f64; 2]> = (0..30)
            .map(|_| [rng.next_f64() * 400.0, rng.next_f64() * 300.0])
            .collect();
        let dst: Vec<[f64; 2]> = src
            .iter()
            .map(|p| apply_homography(&h, *p).unwrap())
            .collect();
        let fit = fit_homography(&src, &dst).unwrap();
        assert!(fit.rms_px < 1e-6, "{}", fit.rms_px);
        for (a, b) in fit.h.iter().zip(h) {
            assert!((a - b).abs() < 1e-6 * b.abs().max(1.0), "{:?}", fit.h);
        }
    }

    #[test]
    fn homography_rejects_degenerate_input() {
        let line: Vec<[f64; 2]> = (0..10).map(|i| [i as f64, 2.0 * i as f64]).collect();
        assert!(fit_homography(&line, &line).is_none());
        let same = vec![[1.0, 1.0]; 10];
        assert!(fit_homography(&same, &same).is_none());
        let mut pts: Vec<[f64; 2]> = (0..10).map(|i| [i as f64, (i * i) as f64]).collect();
        assert!(fit_homography(&pts[..4], &pts[..4]).is_none());
        pts[3][0] = f64::NAN;
        assert!(fit_homography(&pts, &pts).is_none());
    }

    fn ev(frames: &[LandmarkFrame]) -> PlanarityEvidence {
        planarity_evidence(frames, &TRACK_LAYOUT, &PlanarityConfig::default()).unwrap()
    }

    #[test]
    fn canonical_face_layout_matches_track_points() {
        let face = canonical_face();
        let l = TRACK_LAYOUT;
        assert_eq!(TRACK_POINTS[l.nose_tip], 1);
        assert_eq!(
            [TRACK_POINTS[l.right_eye[0]], TRACK_POINTS[l.right_eye[1]]],
            [33, 133]
        );
        assert_eq!(
            [TRACK_POINTS[l.left_eye[0]], TRACK_POINTS[l.left_eye[1]]],
            [362, 263]
        );
        assert_eq!(
            (TRACK_POINTS[l.right_edge], TRACK_POINTS[l.left_edge]),
            (234, 454)
        );
        // Subject's right is on the image's left; eye centres one IOD apart; nose in front.
        assert!(face[l.right_edge][0] < 0.0 && face[l.left_edge][0] > 0.0);
        let ec = |e: [usize; 2]| (face[e[0]][0] + face[e[1]][0]) / 2.0;
        assert!((ec(l.left_eye) - ec(l.right_eye) - 1.0).abs() < 1e-9);
        assert!(face.iter().all(|p| p[2] <= face[l.nose_tip][2]));
        let mut sorted = TRACK_POINTS.to_vec();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), TRACK_POINTS.len(), "no mesh index twice");
        assert!(TRACK_POINTS.iter().all(|&i| i < 468));
    }

    #[test]
    fn select_track_points_picks_by_mesh_index() {
        let mesh: Vec<[f32; 2]> = (0..468).map(|i| [i as f32, 0.0]).collect();
        let t = select_track_points(&mesh).unwrap();
        assert_eq!(t[TRACK_LAYOUT.nose_tip], [1.0, 0.0]);
        assert_eq!(t.len(), TRACK_POINTS.len());
        assert!(select_track_points(&mesh[..400]).is_none());
    }

    #[test]
    fn exact_real_turn_is_3d_and_exact_photo_is_flat() {
        let real = ev(&real_turn(26, 25.0, 0.0, 1));
        assert_eq!(real.verdict, PlanarityVerdict::ThreeD, "{real:?}");
        assert!(real.parallax_norm > 0.1 && real.score == 100.0, "{real:?}");
        assert!(real.pose_consistent && real.nose_shift_range > 0.3);
        assert!((real.max_yaw_range_deg - 25.0).abs() < 1e-3 && real.frames_used == 26);
        assert!((real.iod_px - 87.0).abs() < 3.0, "{}", real.iod_px);

        let flat = ev(&flat_turn(26, 25.0, 0.0, 1, 1.0));
        assert_eq!(flat.verdict, PlanarityVerdict::Flat, "{flat:?}");
        assert!(flat.residual_norm < 1e-4 && flat.score == 0.0, "{flat:?}");
        assert!(flat.nose_shift_range < 0.05);
    }

    #[test]
    fn verdicts_survive_realistic_jitter() {
        // 0.5–1.5 px per coordinate at a ≈200-px face (IOD ≈ 87 px), several seeds, turns of
        // 12–25°, life-size and half-size prints.
        for seed in 1..=6u64 {
            for noise in [0.5, 1.0, 1.5] {
                for yaw in [12.0, 18.0, 25.0] {
                    let real = ev(&real_turn(24, yaw, noise, seed));
                    assert_eq!(
                        real.verdict,
                        PlanarityVerdict::ThreeD,
                        "seed {seed} noise {noise} yaw {yaw}: {real:?}"
                    );
                    assert!(real.noise_measured);
                    for scale in [1.0, 0.5] {
                        let flat = ev(&flat_turn(24, yaw, noise, seed, scale));
                        assert_eq!(
                            flat.verdict,
                            PlanarityVerdict::Flat,
                            "seed {seed} noise {noise} yaw {yaw} scale {scale}: {flat:?}"
                        );
                        // The raw residual of the photo is the jitter floor, not parallax.
                        assert!(
                            (flat.residual_norm - flat.noise_norm).abs()
                                < 0.35 * flat.noise_norm.max(0.005),
                            "{flat:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn heavy_jitter_never_turns_a_photo_3d() {
        // 2–3 px per coordinate (worse than the mesh on a sharp 200-px face): the thresholds
        // grow with the measured floor, so the photo stays flat and the real head is not
        // vetoed (at 15°+ it is still clearly 3-D).
        for seed in 1..=5u64 {
            for noise in [2.0, 3.0] {
                for yaw in [15.0, 25.0] {
                    let flat = ev(&flat_turn(24, yaw, noise, seed, 1.0));
                    assert_eq!(
                        flat.verdict,
                        PlanarityVerdict::Flat,
                        "{noise} {yaw}: {flat:?}"
                    );
                    let real = ev(&real_turn(24, yaw, noise, seed));
                    assert_eq!(
                        real.verdict,
                        PlanarityVerdict::ThreeD,
                        "{noise} {yaw}: {real:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_nod_shows_parallax_too() {
        // Looking up by 15° with no yaw: the nose/forehead/chin relief gives parallax; the
        // nose-shift check (a yaw cue) does not apply.
        for seed in 1..=4u64 {
            let real = ev(&real_motion(24, 0.0, 15.0, 1.0, seed));
            assert!(real.max_yaw_range_deg < 1.0 && real.pose_consistent);
            assert_eq!(real.verdict, PlanarityVerdict::ThreeD, "{real:?}");
            let flat = ev(&flat_motion(24, 0.0, 15.0, 1.0, seed, 1.0));
            assert_eq!(flat.verdict, PlanarityVerdict::Flat, "{flat:?}");
        }
    }

    #[test]
    fn too_little_turn_is_inconclusive() {
        let small = ev(&real_turn(20, 5.0, 1.0, 2));
        assert_eq!(small.verdict, PlanarityVerdict::Inconclusive);
        assert_eq!(small.score, 0.0);
        let few = ev(&real_turn(4, 25.0, 1.0, 2));
        assert_eq!(few.verdict, PlanarityVerdict::Inconclusive);
        assert!(ev(&[]).verdict == PlanarityVerdict::Inconclusive);
    }

    #[test]
    fn sparse_track_uses_the_conservative_noise_assumption() {
        // 7 frames over 25°: consecutive frames differ by ≈4°, so no noise pairs.
        for seed in 1..=4u64 {
            let real = ev(&real_turn(7, 25.0, 1.5, seed));
            assert!(!real.noise_measured);
            assert_eq!(real.verdict, PlanarityVerdict::ThreeD, "{real:?}");
            let flat = ev(&flat_turn(7, 25.0, 1.5, seed, 1.0));
            assert!(!flat.noise_measured);
            assert_eq!(flat.verdict, PlanarityVerdict::Flat, "{flat:?}");
        }
    }

    #[test]
    fn non_planar_motion_without_nose_shift_is_not_3d() {
        // A "turn" whose parallax is not head-like: the real face's points with their
        // horizontal motion replaced by the photo's (nose does not cross the cheeks) but the
        // vertical coordinates of the real face.
        let real = real_turn(24, 25.0, 0.0, 1);
        let flat = flat_turn(24, 25.0, 0.0, 1, 1.0);
        let odd: Vec<LandmarkFrame> = real
            .iter()
            .zip(&flat)
            .map(|(r, f)| LandmarkFrame {
                points: r
                    .points
                    .iter()
                    .zip(&f.points)
                    .map(|(a, b)| [b[0], a[1] + (a[0] - b[0]) * 0.5])
                    .collect(),
                ..r.clone()
            })
            .collect();
        let e = ev(&odd);
        assert!(!e.pose_consistent, "{e:?}");
        assert_ne!(e.verdict, PlanarityVerdict::ThreeD);
        assert!(e.score <= 50.0);
    }

    #[test]
    fn bad_tracks() {
        let mut t = real_turn(10, 20.0, 0.5, 3);
        t[3].points.pop();
        assert_eq!(
            planarity_evidence(&t, &TRACK_LAYOUT, &PlanarityConfig::default())
                .unwrap_err()
                .code,
            ErrorCode::BadInput
        );
        let short: Vec<LandmarkFrame> = real_turn(10, 20.0, 0.5, 3)
            .into_iter()
            .map(|mut f| {
                f.points.truncate(6);
                f
            })
            .collect();
        assert!(planarity_evidence(&short, &TRACK_LAYOUT, &PlanarityConfig::default()).is_err());
        let nan_cfg = PlanarityConfig {
            flat_below: f32::NAN,
            ..PlanarityConfig::default()
        };
        assert!(planarity_evidence(&short[..0], &TRACK_LAYOUT, &nan_cfg).is_err());
        let odd_layout = TrackLayout {
            nose_tip: 99,
            ..TRACK_LAYOUT
        };
        assert!(planarity_evidence(
            &real_turn(10, 20.0, 0.5, 3),
            &odd_layout,
            &PlanarityConfig::default()
        )
        .is_err());
        // Non-finite frames are skipped, not fatal.
        let mut t = real_turn(26, 25.0, 0.5, 3);
        t[5].points[0][0] = f32::NAN;
        t[9].yaw = f32::INFINITY;
        let e = ev(&t);
        assert_eq!(e.frames_used, 24);
        assert_eq!(e.verdict, PlanarityVerdict::ThreeD);
        // All points on top of each other: no IOD, inconclusive, no panic.
        let collapsed: Vec<LandmarkFrame> = real_turn(10, 20.0, 0.0, 3)
            .into_iter()
            .map(|mut f| {
                f.points.iter_mut().for_each(|p| *p = [5.0, 5.0]);
                f
            })
            .collect();
        assert_eq!(ev(&collapsed).verdict, PlanarityVerdict::Inconclusive);
    }

    #[test]
    fn measured_residuals_table() {
        // Not a threshold test: prints the numbers the defaults were chosen from
        // (`cargo test measured_residuals_table -- --nocapture`), and checks the ordering.
        for noise in [0.0, 0.5, 1.0, 1.5, 2.0, 3.0] {
            for yaw in [10.0, 15.0, 25.0] {
                let (mut rp, mut fp, mut fr) = (f32::MAX, 0.0f32, 0.0f32);
                for seed in 1..=5 {
                    let r = ev(&real_turn(24, yaw, noise, seed));
                    let f = ev(&flat_turn(24, yaw, noise, seed, 1.0));
                    rp = rp.min(r.parallax_norm);
                    fp = fp.max(f.parallax_norm);
                    fr = fr.max(f.residual_norm);
                }
                println!("σ {noise:.1} px, yaw {yaw:>4}°: real parallax min {rp:.4} | flat residual max {fr:.4}, parallax max {fp:.4}");
                assert!(rp > 2.0 * fp);
            }
        }
    }
}
