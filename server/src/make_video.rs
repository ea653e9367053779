//! `liveform make-video IMAGE… --out FILE.y4m [--size 640x480] [--fps 30] [--seconds 2]
//! [--crop X,Y,W,H]`:
//! turns still photos into a `.y4m` video (each photo fitted into the frame on grey, held for
//! the given time) for Chromium's fake camera in the end-to-end tests.

use liveform::frame::Frame;
use std::io::Write;

fn fit(src: &Frame, w: u32, h: u32) -> Frame {
    let img =
        image::RgbaImage::from_raw(src.width, src.height, src.rgba.clone()).unwrap_or_default();
    let s = (w as f32 / src.width as f32).min(h as f32 / src.height as f32);
    let (nw, nh) = (
        ((src.width as f32 * s) as u32).max(1),
        ((src.height as f32 * s) as u32).max(1),
    );
    let small = image::imageops::resize(&img, nw, nh, image::imageops::FilterType::Triangle);
    let mut canvas = image::RgbaImage::from_pixel(w, h, image::Rgba([110, 110, 110, 255]));
    image::imageops::overlay(
        &mut canvas,
        &small,
        ((w - nw) / 2) as i64,
        ((h - nh) / 2) as i64,
    );
    Frame {
        width: w,
        height: h,
        rgba: canvas.into_raw(),
    }
}

fn crop_frame(src: &Frame, x: u32, y: u32, w: u32, h: u32) -> Result<Frame, String> {
    if w == 0 || h == 0 || x.saturating_add(w) > src.width || y.saturating_add(h) > src.height {
        return Err(format!(
            "--crop {x},{y},{w},{h} is outside the {}x{} image",
            src.width, src.height
        ));
    }
    let mut rgba = Vec::with_capacity((w * h * 4) as usize);
    for row in y..y + h {
        let start = ((row * src.width + x) * 4) as usize;
        rgba.extend_from_slice(&src.rgba[start..start + (w * 4) as usize]);
    }
    Ok(Frame {
        width: w,
        height: h,
        rgba,
    })
}

pub fn run(args: &[String]) -> Result<(), String> {
    let (mut out, mut size, mut fps, mut seconds) = (None, (640u32, 480u32), 30u32, 2.0f32);
    let mut images = Vec::new();
    let mut crop: Option<[u32; 4]> = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || it.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--out" => out = Some(val()?.clone()),
            "--size" => {
                let v = val()?;
                let (w, h) = v.split_once('x').ok_or("--size is WxH")?;
                size = (
                    w.parse().map_err(|_| "bad width")?,
                    h.parse().map_err(|_| "bad height")?,
                );
            }
            "--fps" => fps = val()?.parse().map_err(|_| "bad --fps")?,
            "--seconds" => seconds = val()?.parse().map_err(|_| "bad --seconds")?,
            "--crop" => {
                let v: Vec<u32> = val()?.split(',').filter_map(|n| n.parse().ok()).collect();
                crop = Some(v.try_into().map_err(|_| "--crop is X,Y,W,H")?);
            }
            s if s.starts_with("--") => return Err(format!("unknown option {s}")),
            s => images.push(s.to_string()),
        }
    }
    let out = out.ok_or(
        "usage: liveform make-video IMAGE… --out FILE.y4m [--size WxH] [--fps N] [--seconds S]",
    )?;
    if images.is_empty()
        || size.0 % 2 != 0
        || size.1 % 2 != 0
        || fps == 0
        || seconds.is_nan()
        || seconds <= 0.0
    {
        return Err("need at least one image, an even size, fps > 0 and seconds > 0".into());
    }
    let mut file =
        std::io::BufWriter::new(std::fs::File::create(&out).map_err(|e| format!("{out}: {e}"))?);
    file.write_all(&liveform::y4m::header(size.0, size.1, fps))
        .map_err(|e| e.to_string())?;
    let per_image = ((fps as f32 * seconds).round() as usize).max(1);
    for path in &images {
        let bytes = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
        let mut photo = Frame::decode(&bytes).map_err(|e| format!("{path}: {e}"))?;
        if let Some([x, y, w, h]) = crop {
            photo = crop_frame(&photo, x, y, w, h)?;
        }
        let frame = fit(&photo, size.0, size.1);
        let encoded = liveform::y4m::encode_frame(&frame).map_err(|e| e.to_string())?;
        for _ in 0..per_image {
            file.write_all(&encoded).map_err(|e| e.to_string())?;
        }
    }
    file.flush().map_err(|e| e.to_string())?;
    Ok(())
}
