//! `liveform check IMAGE… [--policy FILE] [--json] [--models DIR]`: the on-device prechecks
//! run natively on still images, printing the analysis and the verdict per image.
//!
//! `liveform check --video FILE.y4m | --frames FRAME… [--fps N] [--challenge SEED]
//! [--policy FILE] [--json]`: the liveness pipeline over a frame sequence (times from the
//! video's frame rate, or `--fps`, default 10, for stills), printing each liveness signal,
//! the best frame's prechecks and the verdict. `SEED` is the hex challenge seed the session
//! was issued (its Start answer); with it the challenge is verified and liveness is judged
//! as Active.

use liveform::frame::Frame;
use liveform::liveness::judge_sequence;
use liveform::model::ModelKind;
use liveform::policy::{judge, Policy, Verdict};
use liveform::vision::{analyze, Analysis, AnalyzeOptions, Models};
use std::path::{Path, PathBuf};

/// Where the models are: `--models`, then `$LIVEFORM_MODELS`, then `./models`, then the
/// repository's `models/` this binary was built from.
pub fn models_dir(explicit: Option<PathBuf>) -> PathBuf {
    explicit
        .or_else(|| std::env::var_os("LIVEFORM_MODELS").map(PathBuf::from))
        .filter(|p| p.is_dir())
        .or_else(|| {
            Some(PathBuf::from("models"))
                .filter(|p| p.join(ModelKind::FaceDetector.file_name()).is_file())
        })
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../models"))
}

/// Loads every model the prechecks use.
pub fn load_models(dir: &Path) -> Result<Models, String> {
    Models::load_dir(dir, &ModelKind::PRECHECKS).map_err(|e| e.to_string())
}

#[derive(serde::Serialize)]
struct Report<'a> {
    image: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    analysis: Option<&'a Analysis>,
    #[serde(skip_serializing_if = "Option::is_none")]
    verdict: Option<&'a Verdict>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a liveform::Error>,
}

const USAGE: &str = "usage: liveform check IMAGE… [--policy FILE] [--json] [--models DIR]\n       \
     liveform check --video FILE.y4m | --frames FRAME… [--fps N] [--challenge SEED] [--policy FILE] [--json]";

/// Most frames read from a video (30 s at 30 fps).
const MAX_VIDEO_FRAMES: usize = 900;

pub fn run(args: &[String]) -> Result<bool, String> {
    let mut images = Vec::new();
    let mut policy = Policy::default();
    let mut json = false;
    let mut models = None;
    let (mut video, mut frames_mode, mut fps, mut seed) = (None, false, 10.0f64, None);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--json" => json = true,
            "--video" => video = Some(it.next().ok_or("--video needs a file")?.clone()),
            "--frames" => frames_mode = true,
            "--fps" => {
                let v = it.next().ok_or("--fps needs a number")?;
                fps = v
                    .parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite() && *f > 0.0 && *f <= 240.0)
                    .ok_or_else(|| format!("--fps {v}: not a frame rate in (0, 240]"))?;
            }
            "--challenge" => {
                let v = it.next().ok_or("--challenge needs a hex seed")?;
                seed = Some(hex::decode(v).map_err(|_| format!("--challenge {v}: not hex"))?);
            }
            "--policy" => {
                let f = it.next().ok_or("--policy needs a file")?;
                let text = std::fs::read_to_string(f).map_err(|e| format!("{f}: {e}"))?;
                policy = Policy::from_json(&text).map_err(|e| e.to_string())?;
            }
            "--models" => {
                models = Some(PathBuf::from(
                    it.next().ok_or("--models needs a directory")?,
                ))
            }
            s if s.starts_with("--") => return Err(format!("unknown option {s}")),
            s => images.push(s.to_string()),
        }
    }
    let sequence = video.is_some() || frames_mode || seed.is_some();
    if (images.is_empty() && video.is_none()) || (video.is_some() && !images.is_empty()) {
        return Err(USAGE.into());
    }
    let models = load_models(&models_dir(models))?;
    if sequence {
        let frames = match &video {
            Some(path) => {
                let bytes = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
                let v = liveform::y4m::decode(&bytes, MAX_VIDEO_FRAMES)
                    .map_err(|e| format!("{path}: {e}"))?;
                let dt = 1000.0 / f64::from(v.fps);
                v.frames
                    .into_iter()
                    .enumerate()
                    .map(|(i, f)| (i as f64 * dt, f))
                    .collect::<Vec<_>>()
            }
            None => images
                .iter()
                .enumerate()
                .map(|(i, path)| {
                    let bytes = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
                    let f = Frame::decode(&bytes).map_err(|e| format!("{path}: {e}"))?;
                    Ok((i as f64 * 1000.0 / fps, f))
                })
                .collect::<Result<Vec<_>, String>>()?,
        };
        return run_sequence(&models, &policy, &frames, seed.as_deref(), json);
    }
    let mut all_passed = true;
    for path in &images {
        let result = std::fs::read(path)
            .map_err(|e| {
                liveform::Error::new(liveform::ErrorCode::BadImage, format!("{path}: {e}"))
            })
            .and_then(|b| Frame::decode(&b))
            .and_then(|f| {
                let a = analyze(&models, &f.view()?, &AnalyzeOptions::default())?;
                let v = judge(&policy, &a, None);
                Ok((a, v))
            });
        let (analysis, verdict, error) = match &result {
            Ok((a, v)) => (Some(a), Some(v), None),
            Err(e) => (None, None, Some(e)),
        };
        all_passed &= verdict.is_some_and(|v| v.passed);
        if json {
            let r = Report {
                image: path,
                analysis,
                verdict,
                error,
            };
            println!("{}", serde_json::to_string(&r).map_err(|e| e.to_string())?);
        } else {
            print_human(path, analysis, verdict, error);
        }
    }
    Ok(all_passed)
}

fn print_human(path: &str, a: Option<&Analysis>, v: Option<&Verdict>, e: Option<&liveform::Error>) {
    println!("{path}");
    if let Some(e) = e {
        println!("  error: {e}");
        return;
    }
    if let (Some(a), Some(v)) = (a, v) {
        println!("  faces: {}", a.face_count());
        if let Some(f) = &a.face {
            let b = &f.detection.bbox;
            println!(
                "  box: ({:.0}, {:.0}) {:.0}x{:.0}  score {:.3}  mesh presence {:.3}",
                b.x, b.y, b.width, b.height, f.detection.score, f.mesh_presence
            );
            let q = &f.quality;
            println!(
                "  quality: size {:.3}  offset {:.3}  brightness {:.1}  overexposed {:.3}  contrast {:.1}  sharpness {:.1}",
                q.face_size, q.centre_offset, q.brightness, q.overexposed, q.contrast, q.sharpness
            );
            println!(
                "  pose: yaw {:.1}  pitch {:.1}  roll {:.1}  eyes {:.2}/{:.2}",
                f.pose.yaw, f.pose.pitch, f.pose.roll, f.eye_openness[0], f.eye_openness[1]
            );
            if let (Some(o), Some(c)) = (&f.occlusion, &f.occlusion_cues) {
                println!(
                    "  occlusion: lower face {:.0}  eyes {:.0}  hand {:.0}  head {:.0}",
                    o.lower_face, o.eyes, o.hand, o.head
                );
                println!(
                    "  cues: mask p {:.3}  palm {:.3}  mouth chroma {:.3}  eye luma {:.2}  eye sd {:.1}  forehead chroma {:.3}  forehead luma {:.2}",
                    c.mask_probability, c.palm_score, c.lower_face_chroma, c.eye_luma_ratio, c.eye_texture, c.forehead_chroma, c.forehead_luma_ratio
                );
            }
            if let Some(l) = f.passive_liveness {
                println!("  passive liveness: {l:.1}");
            }
        }
        println!(
            "  verdict: {}",
            outcome(v.passed, v.reasons.iter().map(|r| r.code()))
        );
    }
}

/// The liveness pipeline over a sequence; prints the report; true when it passes.
fn run_sequence(
    models: &Models,
    policy: &Policy,
    frames: &[(f64, Frame)],
    seed: Option<&[u8]>,
    json: bool,
) -> Result<bool, String> {
    let views = frames
        .iter()
        .map(|(t, f)| Ok((*t, f.view()?)))
        .collect::<Result<Vec<_>, liveform::Error>>()
        .map_err(|e| e.to_string())?;
    let report = judge_sequence(models, policy, &views, seed).map_err(|e| e.to_string())?;
    let passed = report.verdict.as_ref().is_some_and(|v| v.passed) && report.liveness.passed;
    if json {
        println!(
            "{}",
            serde_json::to_string(&report).map_err(|e| e.to_string())?
        );
        return Ok(passed);
    }
    let l = &report.liveness;
    println!(
        "frames: {}  with a face: {}  best frame: {}",
        report.frames,
        report.frames_with_face,
        report.best_frame.map_or("none".into(), |i| i.to_string())
    );
    let opt = |v: Option<f32>| v.map_or("-".to_string(), |v| format!("{v:.3}"));
    let s = &l.signals;
    println!(
        "  passive {}  moire {}  glare {}  gamut {}",
        opt(s.passive),
        opt(s.moire),
        opt(s.glare),
        opt(s.gamut)
    );
    if let Some(p) = &s.planarity {
        println!(
            "  3-D: {:?}  score {:.1}  yaw range {:.1}°  pitch range {:.1}°  residual {:.4}  noise {:.4}  parallax {:.4}",
            p.verdict, p.score, p.max_yaw_range_deg, p.max_pitch_range_deg, p.residual_norm, p.noise_norm, p.parallax_norm
        );
    }
    if let Some(c) = &s.challenge {
        let steps: Vec<_> = c.steps.iter().map(|s| s.code()).collect();
        println!(
            "  challenge [{}]: {}{}  ({} of {} steps, {:.0} ms)",
            steps.join(", "),
            if c.passed { "passed" } else { "failed" },
            c.reason
                .map_or(String::new(), |r| format!(" ({})", r.code())),
            c.completed.len(),
            c.steps.len(),
            c.duration_ms
        );
    }
    println!(
        "  liveness: {:.1} / {:.0} {}",
        l.score,
        l.threshold,
        outcome(l.passed, l.reasons.iter().map(|r| r.code()))
    );
    if let Some(v) = &report.verdict {
        println!(
            "  verdict: {}",
            outcome(v.passed, v.reasons.iter().map(|r| r.code()))
        );
    }
    Ok(passed)
}

/// `PASS`, or `FAIL (code, code)`.
fn outcome<'a>(passed: bool, reasons: impl Iterator<Item = &'a str>) -> String {
    let reasons: Vec<&str> = reasons.collect();
    match (passed, reasons.is_empty()) {
        (true, true) => "PASS".into(),
        (true, false) => format!("PASS ({})", reasons.join(", ")),
        (false, true) => "FAIL".into(),
        (false, false) => format!("FAIL ({})", reasons.join(", ")),
    }
}
