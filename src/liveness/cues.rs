//! Cheap screen/print cues on a face crop: moiré (a periodic pattern's narrow spectral
//! peaks), specular glare (compact saturated blobs), and colour gamut (chroma spread).
//!
//! Each returns a measured number with its units; the thresholds that turn them into scores
//! live in [`CueThresholds`] and are documented there. These are weak, single-frame cues —
//! they catch the lazy attacks (a phone screen held up close, a washed-out print) and add
//! nothing against a good print in diffuse light. They never decide alone, except strong
//! moiré, which a live face at a normal distance does not produce.

use crate::error::{Error, ErrorCode, Result};
use serde::{Deserialize, Serialize};

/// In-place iterative radix-2 FFT (`re.len()` a power of two). `inverse` uses e^{+i…} and
/// does not scale.
pub fn fft(re: &mut [f64], im: &mut [f64], inverse: bool) {
    let n = re.len();
    debug_assert!(n.is_power_of_two() && im.len() == n);
    if n < 2 {
        return;
    }
    // Bit-reversal permutation.
    let bits = n.trailing_zeros();
    for i in 0..n {
        let j = i.reverse_bits() >> (usize::BITS - bits);
        if j > i {
            re.swap(i, j);
            im.swap(i, j);
        }
    }
    let sign = if inverse { 1.0 } else { -1.0 };
    let mut len = 2;
    while len <= n {
        let ang = sign * 2.0 * std::f64::consts::PI / len as f64;
        let (wr, wi) = (ang.cos(), ang.sin());
        for start in (0..n).step_by(len) {
            let (mut cr, mut ci) = (1.0, 0.0);
            for k in 0..len / 2 {
                let a = start + k;
                let b = a + len / 2;
                let tr = re[b] * cr - im[b] * ci;
                let ti = re[b] * ci + im[b] * cr;
                re[b] = re[a] - tr;
                im[b] = im[a] - ti;
                re[a] += tr;
                im[a] += ti;
                let nr = cr * wr - ci * wi;
                ci = cr * wi + ci * wr;
                cr = nr;
            }
        }
        len <<= 1;
    }
}

/// 2-D FFT of an n×n row-major image (rows, then columns).
pub fn fft2(re: &mut [f64], im: &mut [f64], n: usize) {
    for r in 0..n {
        fft(
            &mut re[r * n..(r + 1) * n],
            &mut im[r * n..(r + 1) * n],
            false,
        );
    }
    let (mut cr, mut ci) = (vec![0.0; n], vec![0.0; n]);
    for c in 0..n {
        for r in 0..n {
            cr[r] = re[r * n + c];
            ci[r] = im[r * n + c];
        }
        fft(&mut cr, &mut ci, false);
        for r in 0..n {
            re[r * n + c] = cr[r];
            im[r * n + c] = ci[r];
        }
    }
}

/// Side of the square tiles the moiré spectrum is measured on.
pub const TILE: usize = 64;
/// At most this many tiles per side (the central ones): 3×3 tiles cover 192 px.
pub const MAX_TILES: usize = 3;
/// Bins at this radius or more (period ≤ 64/6 ≈ 10.7 px) make up the band.
pub const BAND_MIN_RADIUS: f64 = 6.0;
/// A bin is a narrow peak when its power exceeds this many times the median power of the
/// 9×9 bins around it …
pub const PEAK_FACTOR: f64 = 10.0;
/// … and this many times both bins 3 bins away along the radial direction. A straight edge
/// (glasses frame, collar, hairline) puts its energy on a line through the origin of the
/// spectrum, so its radial neighbours are about as strong; a periodic pattern's peak is a
/// point (the Hann window spreads it over ±2 bins only).
pub const RADIAL_FACTOR: f64 = 4.0;

/// The moiré measure.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MoireMeasure {
    /// Share (0..1) of the band's spectral energy in narrow peaks. A live face: ≈ 0–0.05; a
    /// periodic screen/halftone pattern: far more (see the tests).
    pub moire_score: f32,
    /// Frequency of the strongest peak in cycles per pixel (0 when there is none).
    pub peak_frequency: f32,
    /// Tiles averaged.
    pub tiles: usize,
}

fn check_dims(len: usize, w: usize, h: usize, min: usize) -> Result<()> {
    if w.checked_mul(h) != Some(len) || w < min || h < min {
        return Err(Error::new(
            ErrorCode::BadImage,
            format!("crop {w}×{h} with {len} values (needs ≥ {min}×{min})"),
        ));
    }
    Ok(())
}

/// Moiré / pixel-grid energy of a luma crop (`luma` row-major, `width`×`height`, values
/// 0..255 — as `FrameView::luma_region` gives; at least 64×64, native resolution, no
/// resampling: resampling would blur or alias the very pattern looked for).
///
/// The averaged Hann-windowed power spectrum of up to 3×3 central 64×64 tiles (Welch's
/// method: averaging keeps a periodic pattern's peaks and smooths the face's own spectrum);
/// then the share of the energy at radius ≥ 6 bins that sits in narrow peaks: the 5×5 bins
/// around each local maximum that is ≥ 10× its 9×9 neighbourhood median and ≥ 4× its radial
/// neighbours 3 bins away. JPEG's 8×8 blocking does not trip it (tested with a DCT
/// quantiser), so the backend's decoded frames measure like the device's raw ones. Pass the
/// inner face (e.g. the mesh outline's box), not the shoulders: a
/// striped shirt or a patterned background is periodic too.
pub fn moire(luma: &[f32], width: usize, height: usize) -> Result<MoireMeasure> {
    check_dims(luma.len(), width, height, TILE)?;
    if luma.iter().any(|v| !v.is_finite()) {
        return Err(Error::new(ErrorCode::BadImage, "non-finite luma"));
    }
    let n = TILE;
    let (tx, ty) = ((width / n).min(MAX_TILES), (height / n).min(MAX_TILES));
    let (x0, y0) = ((width - tx * n) / 2, (height - ty * n) / 2);
    let hann: Vec<f64> = (0..n)
        .map(|i| 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / n as f64).cos())
        .collect();
    let mut power = vec![0.0f64; n * n];
    let (mut re, mut im) = (vec![0.0f64; n * n], vec![0.0f64; n * n]);
    for j in 0..ty {
        for i in 0..tx {
            let (ox, oy) = (x0 + i * n, y0 + j * n);
            let mut mean = 0.0;
            for y in 0..n {
                for x in 0..n {
                    mean += luma[(oy + y) * width + ox + x] as f64;
                }
            }
            mean /= (n * n) as f64;
            for y in 0..n {
                for x in 0..n {
                    re[y * n + x] =
                        (luma[(oy + y) * width + ox + x] as f64 - mean) * hann[x] * hann[y];
                    im[y * n + x] = 0.0;
                }
            }
            fft2(&mut re, &mut im, n);
            for k in 0..n * n {
                power[k] += re[k] * re[k] + im[k] * im[k];
            }
        }
    }
    let freq = |k: usize| {
        if k < n / 2 {
            k as f64
        } else {
            k as f64 - n as f64
        }
    };
    let wrap = |k: i64| k.rem_euclid(n as i64) as usize;
    let (mut band, mut best, mut best_r) = (0.0, 0.0, 0.0);
    let mut in_peak = vec![false; n * n];
    let mut neigh = Vec::with_capacity(81);
    for v in 0..n {
        for u in 0..n {
            let r = freq(u).hypot(freq(v));
            if r < BAND_MIN_RADIUS {
                continue;
            }
            let p = power[v * n + u];
            band += p;
            if p <= 0.0 {
                continue;
            }
            // Peak centres only: a local maximum of its 3×3 …
            let at = |du: i64, dv: i64| power[wrap(v as i64 + dv) * n + wrap(u as i64 + du)];
            if (-1..=1).any(|dv| (-1..=1).any(|du| (du, dv) != (0, 0) && at(du, dv) > p)) {
                continue;
            }
            // … well above its neighbourhood …
            neigh.clear();
            for dv in -4i64..=4 {
                for du in -4i64..=4 {
                    neigh.push(at(du, dv));
                }
            }
            neigh.sort_by(|a, b| a.total_cmp(b));
            let med = neigh[neigh.len() / 2];
            // … and not on a radial line.
            let radial = |step: f64| {
                let fu = freq(u) + step * freq(u) / r;
                let fv = freq(v) + step * freq(v) / r;
                power[wrap(fv.round() as i64) * n + wrap(fu.round() as i64)]
            };
            let along = radial(3.0).max(radial(-3.0));
            if p > PEAK_FACTOR * med && p > RADIAL_FACTOR * along {
                // The window spreads a peak over ±2 bins: its energy is the 5×5 around it.
                for dv in -2i64..=2 {
                    for du in -2i64..=2 {
                        in_peak[wrap(v as i64 + dv) * n + wrap(u as i64 + du)] = true;
                    }
                }
                if p > best {
                    best = p;
                    best_r = r;
                }
            }
        }
    }
    let mut peaks = 0.0;
    for v in 0..n {
        for u in 0..n {
            if in_peak[v * n + u] && freq(u).hypot(freq(v)) >= BAND_MIN_RADIUS {
                peaks += power[v * n + u];
            }
        }
    }
    let moire_score = if band > 0.0 {
        (peaks / band) as f32
    } else {
        0.0
    };
    Ok(MoireMeasure {
        moire_score,
        peak_frequency: (best_r / n as f64) as f32,
        tiles: tx * ty,
    })
}

/// Luma at or above this counts as saturated (as `quality`'s overexposure).
pub const GLARE_LUMA: f32 = 250.0;

/// The glare measure.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GlareMeasure {
    /// Share (0..1) of the crop covered by compact saturated blobs: 4-connected regions of
    /// luma ≥ 250 with at least max(9 px, 0.2 % of the crop) pixels and an area of at least
    /// 0.3 × (longer bounding-box side)² (a disc: 0.79, a 3:2 rectangle: 0.67, a streak: ≈ 0). A screen's or glossy print's reflection is one such blob; a skin
    /// highlight is small and often not saturated.
    pub glare_share: f32,
    /// The largest compact blob's share.
    pub largest_blob: f32,
}

/// Specular glare on a luma crop (0..255, row-major).
pub fn glare(luma: &[f32], width: usize, height: usize) -> Result<GlareMeasure> {
    check_dims(luma.len(), width, height, 8)?;
    let saturated = |v: f32| v >= GLARE_LUMA; // false for NaN
    let total = width * height;
    let min_area = (total as f64 * 0.002).max(9.0) as usize;
    let mut seen = vec![false; total];
    let mut stack = Vec::new();
    let (mut covered, mut largest) = (0usize, 0usize);
    for start in 0..total {
        if seen[start] || !saturated(luma[start]) {
            continue;
        }
        seen[start] = true;
        stack.push(start);
        let (mut area, mut x0, mut y0, mut x1, mut y1) =
            (0usize, usize::MAX, usize::MAX, 0usize, 0usize);
        while let Some(k) = stack.pop() {
            let (x, y) = (k % width, k / width);
            area += 1;
            x0 = x0.min(x);
            y0 = y0.min(y);
            x1 = x1.max(x);
            y1 = y1.max(y);
            let mut visit = |kk: usize| {
                if !seen[kk] && saturated(luma[kk]) {
                    seen[kk] = true;
                    stack.push(kk);
                }
            };
            if x > 0 {
                visit(k - 1);
            }
            if x + 1 < width {
                visit(k + 1);
            }
            if y > 0 {
                visit(k - width);
            }
            if y + 1 < height {
                visit(k + width);
            }
        }
        let (bw, bh) = (x1 - x0 + 1, y1 - y0 + 1);
        let long = bw.max(bh) as f64;
        if area >= min_area && area as f64 >= 0.3 * long * long {
            covered += area;
            largest = largest.max(area);
        }
    }
    Ok(GlareMeasure {
        glare_share: covered as f32 / total as f32,
        largest_blob: largest as f32 / total as f32,
    })
}

/// The colour gamut measure.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GamutMeasure {
    /// √(var r + var g) of the chromaticity r = R/(R+G+B), g = G/(R+G+B) over the usable
    /// pixels (chromaticity units; a grey image: 0; a colour face crop with skin, lips, eyes,
    /// hair and some background: a few hundredths).
    pub chroma_spread: f32,
    /// 90th percentile of HSV saturation (max − min)/max, 0..1.
    pub saturation_p90: f32,
    /// Pixels used (R+G+B ≥ 60 and no channel ≥ 250: dark noise and clipped pixels say
    /// nothing about the gamut).
    pub pixels: usize,
}

/// Chroma spread of interleaved RGB (`channels` = 3) or RGBA (4) pixels of a face crop.
pub fn gamut(pixels: &[u8], channels: usize) -> Result<GamutMeasure> {
    if !(channels == 3 || channels == 4)
        || !pixels.len().is_multiple_of(channels)
        || pixels.is_empty()
    {
        return Err(Error::new(
            ErrorCode::BadImage,
            "gamut needs RGB or RGBA pixels",
        ));
    }
    let (mut n, mut sr, mut sg, mut srr, mut sgg) = (0usize, 0.0f64, 0.0f64, 0.0f64, 0.0f64);
    let mut sats = Vec::with_capacity(pixels.len() / channels);
    for px in pixels.chunks_exact(channels) {
        let (r, g, b) = (px[0] as f64, px[1] as f64, px[2] as f64);
        let s = r + g + b;
        let mx = r.max(g).max(b);
        if s < 60.0 || mx >= 250.0 {
            continue;
        }
        let (cr, cg) = (r / s, g / s);
        n += 1;
        sr += cr;
        sg += cg;
        srr += cr * cr;
        sgg += cg * cg;
        sats.push(((mx - r.min(g).min(b)) / mx) as f32);
    }
    if n == 0 {
        return Ok(GamutMeasure {
            chroma_spread: 0.0,
            saturation_p90: 0.0,
            pixels: 0,
        });
    }
    let nf = n as f64;
    let var = (srr / nf - (sr / nf).powi(2)).max(0.0) + (sgg / nf - (sg / nf).powi(2)).max(0.0);
    sats.sort_by(|a, b| a.total_cmp(b));
    let p90 = sats[((sats.len() - 1) as f64 * 0.9).round() as usize];
    Ok(GamutMeasure {
        chroma_spread: var.sqrt() as f32,
        saturation_p90: p90,
        pixels: n,
    })
}

/// Converts interleaved RGB/RGBA to luma 0..255 (Rec. 601 weights, as `frame::luma`).
pub fn luma_of(pixels: &[u8], channels: usize) -> Vec<f32> {
    pixels
        .chunks_exact(channels.max(1))
        .map(|p| {
            if channels >= 3 {
                0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32
            } else {
                p[0] as f32
            }
        })
        .collect()
}

/// Turning the cues into 0..100 scores (100 = looks live). The defaults are first guesses
/// from synthetic images and from what the measures mean physically; they must be
/// re-calibrated on real captures of faces, prints and screens before being trusted.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CueThresholds {
    /// moire_score ≤ this: score 100 (the synthetic face: 0; strong straight edges: < 0.08).
    pub moire_clean: f32,
    /// moire_score ≥ this: score 0 and reason `moire_suspicious`.
    pub moire_suspicious: f32,
    /// moire_score ≥ this: a veto (`screen_moire`): a third of the band's energy in
    /// narrow peaks is a periodic pattern, not skin.
    pub moire_veto: f32,
    /// glare_share ≤ this: 100; ≥ `glare_high`: 0 and reason `glare_high` (a reflection
    /// covering ≥ 3 % of the face).
    pub glare_ok: f32,
    pub glare_high: f32,
    /// chroma_spread ≤ this: 0 and reason `gamut_low` (nearly grey); ≥ `gamut_ok`: 100.
    pub gamut_low: f32,
    pub gamut_ok: f32,
}

impl Default for CueThresholds {
    fn default() -> Self {
        CueThresholds {
            moire_clean: 0.1,
            moire_suspicious: 0.2,
            moire_veto: 0.35,
            glare_ok: 0.01,
            glare_high: 0.03,
            gamut_low: 0.01,
            gamut_ok: 0.025,
        }
    }
}

/// Linear ramp: 0 at `lo`, 1 at `hi` (clamped).
pub(crate) fn ramp(x: f32, lo: f32, hi: f32) -> f32 {
    if hi <= lo || hi.is_nan() || lo.is_nan() {
        return if x >= hi { 1.0 } else { 0.0 };
    }
    let t = (x - lo) / (hi - lo);
    if t.is_nan() {
        0.0
    } else {
        t.clamp(0.0, 1.0)
    }
}

#[cfg(test)]
pub(crate) mod synth {
    //! Synthetic face crops.
    use crate::liveness::rng::SplitMix64;

    /// A face-like RGB crop `n`×`n`: a bluish-grey background with a vertical gradient, a
    /// skin-coloured ellipse with soft shading, dark eyes and brows, red lips, and sensor
    /// noise (σ = 2 levels).
    pub fn face_rgb(n: usize, seed: u64) -> Vec<u8> {
        let mut rng = SplitMix64::new(seed);
        let mut out = Vec::with_capacity(n * n * 3);
        let s = n as f64;
        for y in 0..n {
            for x in 0..n {
                let (fx, fy) = ((x as f64 - s / 2.0) / s, (y as f64 - s / 2.0) / s);
                let mut c = [90.0 + 40.0 * fy, 105.0 + 40.0 * fy, 130.0 + 30.0 * fy];
                let e = (fx / 0.32).powi(2) + (fy / 0.42).powi(2);
                if e < 1.0 {
                    let shade = 1.0 - 0.35 * e + 0.15 * fx;
                    c = [205.0 * shade, 150.0 * shade, 120.0 * shade];
                    let eye = |cx: f64| ((fx - cx) / 0.07).powi(2) + ((fy + 0.08) / 0.03).powi(2);
                    if eye(-0.12) < 1.0 || eye(0.12) < 1.0 {
                        c = [60.0, 45.0, 40.0];
                    }
                    let brow = |cx: f64| ((fx - cx) / 0.09).powi(2) + ((fy + 0.16) / 0.015).powi(2);
                    if brow(-0.12) < 1.0 || brow(0.12) < 1.0 {
                        c = [80.0, 55.0, 40.0];
                    }
                    if (fx / 0.1).powi(2) + ((fy - 0.22) / 0.03).powi(2) < 1.0 {
                        c = [170.0, 70.0, 75.0];
                    }
                }
                for v in c {
                    out.push((v + 2.0 * rng.gaussian()).round().clamp(0.0, 255.0) as u8);
                }
            }
        }
        out
    }

    /// The crop re-photographed off a screen: a fine periodic pattern added (a sinusoidal
    /// grid of `period` px at `angle` degrees and `amp` levels — the pixel grid beating
    /// with the camera's sensor).
    pub fn with_grid(rgb: &[u8], n: usize, period: f64, angle: f64, amp: f64) -> Vec<u8> {
        let (s, c) = angle.to_radians().sin_cos();
        let mut out = rgb.to_vec();
        for y in 0..n {
            for x in 0..n {
                let (u, v) = (c * x as f64 + s * y as f64, -s * x as f64 + c * y as f64);
                let g = amp
                    * 0.5
                    * ((2.0 * std::f64::consts::PI * u / period).cos()
                        + (2.0 * std::f64::consts::PI * v / period).cos());
                for ch in 0..3 {
                    let k = (y * n + x) * 3 + ch;
                    out[k] = (out[k] as f64 + g).round().clamp(0.0, 255.0) as u8;
                }
            }
        }
        out
    }

    /// A reduced-gamut print: chroma pulled towards grey by `keep` (0: grey, 1: unchanged).
    pub fn reduce_gamut(rgb: &[u8], keep: f64) -> Vec<u8> {
        rgb.chunks_exact(3)
            .flat_map(|p| {
                let m = (p[0] as f64 + p[1] as f64 + p[2] as f64) / 3.0;
                p.iter()
                    .map(move |&v| (m + keep * (v as f64 - m)).round().clamp(0.0, 255.0) as u8)
                    .collect::<Vec<_>>()
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
    fn fft_matches_a_direct_dft_and_inverts() {
        let n = 16;
        let mut rng = SplitMix64::new(1);
        let x: Vec<f64> = (0..n).map(|_| rng.gaussian()).collect();
        let (mut re, mut im) = (x.clone(), vec![0.0; n]);
        fft(&mut re, &mut im, false);
        for k in 0..n {
            let (mut dr, mut di) = (0.0, 0.0);
            for (t, v) in x.iter().enumerate() {
                let a = -2.0 * std::f64::consts::PI * (k * t) as f64 / n as f64;
                dr += v * a.cos();
                di += v * a.sin();
            }
            assert!(
                (re[k] - dr).abs() < 1e-9 && (im[k] - di).abs() < 1e-9,
                "bin {k}"
            );
        }
        fft(&mut re, &mut im, true);
        for (a, b) in re.iter().zip(&x) {
            assert!((a / n as f64 - b).abs() < 1e-12);
        }
    }

    #[test]
    fn fft2_puts_a_plane_wave_in_one_bin() {
        let n = 32;
        let (mut re, mut im) = (vec![0.0; n * n], vec![0.0; n * n]);
        for y in 0..n {
            for x in 0..n {
                re[y * n + x] =
                    (2.0 * std::f64::consts::PI * (3 * x + 5 * y) as f64 / n as f64).cos();
            }
        }
        fft2(&mut re, &mut im, n);
        let p = |u: usize, v: usize| re[v * n + u].hypot(im[v * n + u]);
        assert!((p(3, 5) - (n * n) as f64 / 2.0).abs() < 1e-6);
        assert!((p(n - 3, n - 5) - (n * n) as f64 / 2.0).abs() < 1e-6);
        let rest: f64 =
            (0..n * n).map(|k| re[k].hypot(im[k])).sum::<f64>() - p(3, 5) - p(n - 3, n - 5);
        assert!(rest < 1e-6);
    }

    fn luma(rgb: &[u8]) -> Vec<f32> {
        luma_of(rgb, 3)
    }

    /// JPEG's lossy core on a luma image: 8×8 DCT-II, uniform quantisation with step `q`
    /// (finer for the lowest frequencies, as JPEG tables are), inverse DCT, rounding.
    #[allow(clippy::needless_range_loop)]
    fn jpeg_like(img: &[f32], n: usize, q: f64) -> Vec<f32> {
        let c = |k: usize| {
            if k == 0 {
                (1.0f64 / 8.0).sqrt()
            } else {
                (2.0f64 / 8.0).sqrt()
            }
        };
        let basis = |k: usize, x: usize| {
            c(k) * (std::f64::consts::PI * (2 * x + 1) as f64 * k as f64 / 16.0).cos()
        };
        let mut out = img.to_vec();
        for by in 0..n / 8 {
            for bx in 0..n / 8 {
                let px = |x: usize, y: usize| img[(by * 8 + y) * n + bx * 8 + x] as f64 - 128.0;
                let mut coef = [[0.0f64; 8]; 8];
                for v in 0..8 {
                    for u in 0..8 {
                        let mut s = 0.0;
                        for y in 0..8 {
                            for x in 0..8 {
                                s += px(x, y) * basis(u, x) * basis(v, y);
                            }
                        }
                        let step = q * (1.0 + (u + v) as f64 / 4.0);
                        coef[v][u] = (s / step).round() * step;
                    }
                }
                for y in 0..8 {
                    for x in 0..8 {
                        let mut s = 0.0;
                        for v in 0..8 {
                            for u in 0..8 {
                                s += coef[v][u] * basis(u, x) * basis(v, y);
                            }
                        }
                        out[(by * 8 + y) * n + bx * 8 + x] =
                            (s + 128.0).round().clamp(0.0, 255.0) as f32;
                    }
                }
            }
        }
        out
    }

    #[test]
    fn a_screen_grid_scores_far_higher_moire_than_the_face() {
        let n = 200;
        for seed in 1..=3 {
            let face = face_rgb(n, seed);
            let clean = moire(&luma(&face), n, n).unwrap();
            println!("face {seed}: {clean:?}");
            assert_eq!(clean.tiles, 9);
            assert!(
                clean.moire_score < CueThresholds::default().moire_clean,
                "clean {clean:?}"
            );
            let t = CueThresholds::default();
            for (period, angle, amp) in [
                (3.0, 0.0, 8.0),
                (4.5, 17.0, 6.0),
                (7.0, 33.0, 10.0),
                (2.5, 5.0, 4.0),
            ] {
                let grid = moire(&luma(&with_grid(&face, n, period, angle, amp)), n, n).unwrap();
                println!("  grid period {period} px, {angle}°, ±{amp}: {grid:?}");
                // The share depends on the pattern's strength against the sensor noise
                // (σ 2 levels here): strong grids reach the veto, a faint ±4 one is
                // "suspicious".
                let floor = if amp >= 6.0 {
                    t.moire_veto
                } else {
                    t.moire_suspicious
                };
                assert!(
                    grid.moire_score > floor,
                    "grid {period}/{angle}/{amp}: {grid:?} vs {clean:?}"
                );
                assert!(grid.moire_score > 5.0 * clean.moire_score.max(0.01));
                assert!(
                    (grid.peak_frequency - 1.0 / period as f32).abs() < 0.03,
                    "{grid:?}"
                );
            }
        }
    }

    #[test]
    fn broadband_texture_and_edges_are_not_moire() {
        // White noise (skin texture, sensor noise) has a flat spectrum: no narrow peaks.
        let n = 192;
        let mut rng = SplitMix64::new(7);
        let noise: Vec<f32> = (0..n * n)
            .map(|_| (128.0 + 20.0 * rng.gaussian()) as f32)
            .collect();
        let m = moire(&noise, n, n).unwrap();
        assert!(m.moire_score < 0.02, "{m:?}");
        // Strong straight edges (a glasses frame, a collar): a line in the spectrum, not a
        // point.
        let edges: Vec<f32> = (0..n * n)
            .map(|k| {
                let (x, y) = ((k % n) as f32, (k / n) as f32);
                let a = if x * 0.8 + y * 0.3 > 100.0 {
                    200.0
                } else {
                    60.0
                };
                let b = if (y - 0.25 * x - 90.0).abs() < 3.0 {
                    -40.0
                } else {
                    0.0
                };
                a + b + 2.0 * rng.gaussian() as f32
            })
            .collect();
        let m = moire(&edges, n, n).unwrap();
        println!("edges: {m:?}");
        assert!(
            m.moire_score < CueThresholds::default().moire_suspicious,
            "{m:?}"
        );
        // JPEG blocking (8×8 DCT, coarse quantisation) is not moiré, at any crop offset; a
        // grid survives it.
        let face = luma(&face_rgb(n + 5, 4));
        for q in [12.0, 24.0] {
            let jpeg = jpeg_like(&face, n + 5, q);
            for off in [0, 3] {
                let crop: Vec<f32> = (0..n * n)
                    .map(|k| jpeg[(k / n + off) * (n + 5) + k % n + off])
                    .collect();
                let m = moire(&crop, n, n).unwrap();
                println!("jpeg-like q {q} offset {off}: {m:?}");
                assert!(
                    m.moire_score < CueThresholds::default().moire_clean,
                    "{m:?}"
                );
            }
        }
        // Textured content (skin pores, hair) quantised hard: the block edges get strong.
        let mut rng2 = SplitMix64::new(11);
        let texture: Vec<f32> = face
            .iter()
            .map(|v| v + (12.0 * rng2.gaussian()) as f32)
            .collect();
        for q in [16.0, 32.0] {
            let jpeg = jpeg_like(&texture, n + 5, q);
            let crop: Vec<f32> = (0..n * n)
                .map(|k| jpeg[(k / n) * (n + 5) + k % n])
                .collect();
            let m = moire(&crop, n, n).unwrap();
            println!("textured jpeg-like q {q}: {m:?}");
            assert!(
                m.moire_score < CueThresholds::default().moire_clean,
                "{m:?}"
            );
        }
        let gridded = luma(&with_grid(&face_rgb(n, 4), n, 3.5, 10.0, 8.0));
        let m = moire(&jpeg_like(&gridded, n, 12.0), n, n).unwrap();
        assert!(m.moire_score > CueThresholds::default().moire_veto, "{m:?}");
        // A flat crop: no energy, no peaks, no NaN.
        let flat = vec![100.0f32; 64 * 64];
        assert_eq!(moire(&flat, 64, 64).unwrap().moire_score, 0.0);
    }

    #[test]
    fn moire_input_checks() {
        assert_eq!(
            moire(&vec![0.0; 63 * 100], 63, 100).unwrap_err().code,
            ErrorCode::BadImage
        );
        assert!(moire(&vec![0.0; 100], 64, 64).is_err());
        let mut nan = vec![0.0f32; 64 * 64];
        nan[5] = f32::NAN;
        assert!(moire(&nan, 64, 64).is_err());
        // A non-square crop uses the tiles that fit.
        let wide = vec![10.0f32; 300 * 70];
        assert_eq!(moire(&wide, 300, 70).unwrap().tiles, 3);
    }

    #[test]
    fn glare_finds_compact_reflections_only() {
        let n = 160;
        let face = luma(&face_rgb(n, 2));
        let base = glare(&face, n, n).unwrap();
        assert_eq!(base.glare_share, 0.0);
        // A screen reflection: a 30×20 saturated patch (2.3 % of the crop).
        let mut refl = face.clone();
        for y in 40..60 {
            for x in 90..120 {
                refl[y * n + x] = 255.0;
            }
        }
        let g = glare(&refl, n, n).unwrap();
        assert!(
            (g.glare_share - 600.0 / (n * n) as f32).abs() < 1e-6,
            "{g:?}"
        );
        assert_eq!(g.largest_blob, g.glare_share);
        // Specks (a few saturated pixels each, like skin highlights) and a thin 1-px streak
        // do not count.
        let mut specks = face.clone();
        for k in 0..20 {
            let (x, y) = (10 + 7 * k, 30 + (k % 5) * 20);
            specks[y * n + x] = 255.0;
            specks[y * n + x + 1] = 255.0;
        }
        for x in 0..150 {
            specks[120 * n + x] = 255.0;
        }
        assert_eq!(glare(&specks, n, n).unwrap().glare_share, 0.0);
        assert!(glare(&face, n, n + 1).is_err());
    }

    #[test]
    fn reduced_gamut_scores_lower_spread() {
        let n = 128;
        let face = face_rgb(n, 3);
        let full = gamut(&face, 3).unwrap();
        let print = gamut(&reduce_gamut(&face, 0.4), 3).unwrap();
        let grey = gamut(&reduce_gamut(&face, 0.0), 3).unwrap();
        let t = CueThresholds::default();
        println!("gamut: full {full:?}\n  print(0.4) {print:?}\n  grey {grey:?}");
        assert!(full.chroma_spread > t.gamut_ok, "{full:?}");
        assert!(
            print.chroma_spread < 0.5 * full.chroma_spread,
            "{print:?} vs {full:?}"
        );
        assert!(print.saturation_p90 < full.saturation_p90);
        assert!(grey.chroma_spread < t.gamut_low, "{grey:?}");
        // RGBA gives the same numbers.
        let rgba: Vec<u8> = face
            .chunks_exact(3)
            .flat_map(|p| [p[0], p[1], p[2], 255])
            .collect();
        assert_eq!(gamut(&rgba, 4).unwrap(), full);
        assert!(gamut(&face, 2).is_err());
        assert!(gamut(&[], 3).is_err());
        assert_eq!(gamut(&[0, 0, 0, 255, 255, 255], 3).unwrap().pixels, 0);
    }

    #[test]
    fn ramp_is_clamped() {
        assert_eq!(ramp(0.0, 0.1, 0.2), 0.0);
        assert!((ramp(0.15, 0.1, 0.2) - 0.5).abs() < 1e-5);
        assert_eq!(ramp(1.0, 0.1, 0.2), 1.0);
        assert_eq!(ramp(0.3, 0.2, 0.2), 1.0);
        assert_eq!(ramp(f32::NAN, 0.1, 0.2), 0.0);
    }
}
