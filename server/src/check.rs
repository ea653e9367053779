//! `liveform check IMAGE… [--policy FILE] [--json] [--models DIR]`: the on-device prechecks
//! run natively on still images, printing the analysis and the verdict per image.

use liveform::frame::Frame;
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

pub fn run(args: &[String]) -> Result<bool, String> {
    let mut images = Vec::new();
    let mut policy = Policy::default();
    let mut json = false;
    let mut models = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--json" => json = true,
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
    if images.is_empty() {
        return Err("usage: liveform check IMAGE… [--policy FILE] [--json] [--models DIR]".into());
    }
    let models = load_models(&models_dir(models))?;
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
        let reasons: Vec<_> = v.reasons.iter().map(|r| r.code()).collect();
        println!(
            "  verdict: {}{}",
            if v.passed { "PASS" } else { "FAIL" },
            if reasons.is_empty() {
                String::new()
            } else {
                format!(" ({})", reasons.join(", "))
            }
        );
    }
}
