//! YUV4MPEG2 (`.y4m`) video, 4:2:0: written to feed Chromium's fake camera
//! (`--use-file-for-fake-video-capture`) in tests, and read by `liveform check --video`.
//!
//! Colour is BT.601 full range (`C420jpeg`), chroma sited at the centre of each 2×2 block.

use crate::error::{Error, ErrorCode, Result};
use crate::frame::Frame;

/// Largest side accepted when reading.
const MAX_SIDE: u32 = 4096;

fn bad(msg: impl Into<String>) -> Error {
    Error::new(ErrorCode::BadInput, msg)
}

/// The stream header for `width`×`height` at `fps` frames per second.
pub fn header(width: u32, height: u32, fps: u32) -> Vec<u8> {
    format!("YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n").into_bytes()
}

/// One frame (`FRAME` line + planar Y, U, V) from RGBA. Odd sizes are rejected.
pub fn encode_frame(frame: &Frame) -> Result<Vec<u8>> {
    let (w, h) = (frame.width as usize, frame.height as usize);
    if w % 2 != 0 || h % 2 != 0 {
        return Err(bad(format!("y4m 4:2:0 needs even sizes, got {w}x{h}")));
    }
    let mut out = Vec::with_capacity(6 + w * h * 3 / 2);
    out.extend_from_slice(b"FRAME\n");
    let px = |x: usize, y: usize| {
        let i = (y * w + x) * 4;
        (
            frame.rgba[i] as f32,
            frame.rgba[i + 1] as f32,
            frame.rgba[i + 2] as f32,
        )
    };
    for y in 0..h {
        for x in 0..w {
            let (r, g, b) = px(x, y);
            out.push(
                (0.299 * r + 0.587 * g + 0.114 * b)
                    .round()
                    .clamp(0.0, 255.0) as u8,
            );
        }
    }
    let mut u = Vec::with_capacity(w * h / 4);
    let mut v = Vec::with_capacity(w * h / 4);
    for y in (0..h).step_by(2) {
        for x in (0..w).step_by(2) {
            let (mut r, mut g, mut b) = (0.0, 0.0, 0.0);
            for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                let p = px(x + dx, y + dy);
                r += p.0 / 4.0;
                g += p.1 / 4.0;
                b += p.2 / 4.0;
            }
            u.push(
                (128.0 - 0.168736 * r - 0.331264 * g + 0.5 * b)
                    .round()
                    .clamp(0.0, 255.0) as u8,
            );
            v.push(
                (128.0 + 0.5 * r - 0.418688 * g - 0.081312 * b)
                    .round()
                    .clamp(0.0, 255.0) as u8,
            );
        }
    }
    out.extend_from_slice(&u);
    out.extend_from_slice(&v);
    Ok(out)
}

/// A decoded video: frame rate and RGBA frames.
#[derive(Debug, Clone)]
pub struct Video {
    pub fps: f32,
    pub frames: Vec<Frame>,
}

/// Reads a 4:2:0 `.y4m` stream (at most `max_frames` frames).
pub fn decode(bytes: &[u8], max_frames: usize) -> Result<Video> {
    let nl = bytes
        .iter()
        .position(|&b| b == b'\n')
        .ok_or_else(|| bad("y4m: no header line"))?;
    let head = std::str::from_utf8(&bytes[..nl]).map_err(|_| bad("y4m: header not text"))?;
    let mut tokens = head.split(' ');
    if tokens.next() != Some("YUV4MPEG2") {
        return Err(bad("y4m: not a YUV4MPEG2 stream"));
    }
    let (mut w, mut h, mut fps) = (0u32, 0u32, 30.0f32);
    for t in tokens {
        let mut chars = t.chars();
        let tag = chars.next();
        let val = chars.as_str();
        match tag {
            Some('W') => w = val.parse().map_err(|_| bad("y4m: bad width"))?,
            Some('H') => h = val.parse().map_err(|_| bad("y4m: bad height"))?,
            Some('F') => {
                let (n, d) = val
                    .split_once(':')
                    .ok_or_else(|| bad("y4m: bad frame rate"))?;
                let (n, d): (f32, f32) = (
                    n.parse().map_err(|_| bad("y4m: bad frame rate"))?,
                    d.parse().map_err(|_| bad("y4m: bad frame rate"))?,
                );
                // `F0:0` (unknown) keeps the default; a rate too large or too small for an
                // f32 (found by the y4m fuzz target: `F4…4:2` parsed to infinity) is refused.
                if n > 0.0 && d > 0.0 {
                    fps = n / d;
                    if !(fps.is_finite() && fps > 0.0) {
                        return Err(bad("y4m: bad frame rate"));
                    }
                }
            }
            Some('C') if !val.starts_with("420") => {
                return Err(bad(format!(
                    "y4m: colour space C{val} not supported (4:2:0 only)"
                )))
            }
            _ => {}
        }
    }
    if w == 0 || h == 0 || w > MAX_SIDE || h > MAX_SIDE || w % 2 != 0 || h % 2 != 0 {
        return Err(bad(format!("y4m: unsupported size {w}x{h}")));
    }
    let (wu, hu) = (w as usize, h as usize);
    let plane = wu * hu;
    let frame_len = plane * 3 / 2;
    let mut rest = &bytes[nl + 1..];
    let mut frames = Vec::new();
    while !rest.is_empty() && frames.len() < max_frames {
        let nl = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| bad("y4m: truncated frame header"))?;
        if !rest.starts_with(b"FRAME") {
            return Err(bad("y4m: expected FRAME"));
        }
        let data = rest
            .get(nl + 1..nl + 1 + frame_len)
            .ok_or_else(|| bad("y4m: truncated frame"))?;
        rest = &rest[nl + 1 + frame_len..];
        let (y, uv) = data.split_at(plane);
        let (u, v) = uv.split_at(plane / 4);
        let mut rgba = Vec::with_capacity(plane * 4);
        for yy in 0..hu {
            for xx in 0..wu {
                let c = (yy / 2) * (wu / 2) + xx / 2;
                let (l, cb, cr) = (
                    y[yy * wu + xx] as f32,
                    u[c] as f32 - 128.0,
                    v[c] as f32 - 128.0,
                );
                let r = l + 1.402 * cr;
                let g = l - 0.344136 * cb - 0.714136 * cr;
                let b = l + 1.772 * cb;
                rgba.extend_from_slice(&[r, g, b].map(|x| x.round().clamp(0.0, 255.0) as u8));
                rgba.push(255);
            }
        }
        frames.push(Frame {
            width: w,
            height: h,
            rgba,
        });
    }
    Ok(Video { fps, frames })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_colours_close() {
        // Colour constant over each 2×2 block (chroma is stored per block), luma varies.
        let mut rgba = Vec::new();
        for y in 0..4u32 {
            for x in 0..4u32 {
                let b = (y / 2) * 2 + x / 2;
                rgba.extend_from_slice(&[
                    (40 + b * 50) as u8,
                    (200 - b * 40) as u8,
                    (90 + x * 3) as u8,
                    255,
                ]);
            }
        }
        let f = Frame {
            width: 4,
            height: 4,
            rgba,
        };
        let mut bytes = header(4, 4, 25);
        bytes.extend(encode_frame(&f).unwrap());
        bytes.extend(encode_frame(&f).unwrap());
        let v = decode(&bytes, 10).unwrap();
        assert_eq!(v.frames.len(), 2);
        assert_eq!(v.fps, 25.0);
        let err = v.frames[0]
            .rgba
            .iter()
            .zip(&f.rgba)
            .map(|(a, b)| (*a as i32 - *b as i32).abs())
            .max()
            .unwrap();
        assert!(err <= 4, "max error {err}");
    }

    #[test]
    fn bad_streams_are_errors() {
        assert!(decode(b"", 1).is_err());
        assert!(decode(b"YUV4MPEG2 W3 H2 F30:1\n", 1).is_err());
        assert!(decode(b"YUV4MPEG2 W2 H2 C444\n", 1).is_err());
        assert!(decode(b"YUV4MPEG2 W2 H2\nFRAME\n\x00", 1).is_err());
        assert!(decode(b"NOPE W2 H2\n", 1).is_err());
        // Frame rates an f32 cannot hold (the fuzz target's find) are refused, not infinite.
        let huge = format!("YUV4MPEG2 W2 H2 F{}:2\n", "4".repeat(60));
        assert!(decode(huge.as_bytes(), 1).is_err());
        let tiny = format!("YUV4MPEG2 W2 H2 F1:{}\n", "9".repeat(60));
        assert!(decode(tiny.as_bytes(), 1).is_err());
        assert_eq!(decode(b"YUV4MPEG2 W2 H2 F0:0\n", 1).unwrap().fps, 30.0);
        assert!(
            decode("YUV4MPEG2 \u{e9}x W2 H2\n".as_bytes(), 1).is_ok(),
            "unknown tags are skipped"
        );
        assert!(encode_frame(&Frame {
            width: 3,
            height: 2,
            rgba: vec![0; 24]
        })
        .is_err());
    }
}
