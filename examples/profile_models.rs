//! Where each precheck model's time goes natively, by tract operator kind:
//! `cargo run --profile bench --example profile_models [RUNS]`. The browser's figures come
//! from the bench page (`benchProfile`).

use liveform::frame::Frame;
use liveform::model::ModelKind;
use liveform::vision::stages::{fit_frame, Prepared};
use liveform::vision::Models;
use std::path::PathBuf;
use std::time::Instant;

fn main() {
    let runs: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let models = Models::load_dir(&root.join("models"), &ModelKind::PRECHECKS).expect("models");
    let photo =
        Frame::decode(&std::fs::read(root.join("tests/data/astronaut.png")).unwrap()).unwrap();
    let prepared = Prepared::new(&models, fit_frame(&photo, 640, 480).unwrap()).expect("a face");
    let start = Instant::now();
    let mut now = || start.elapsed().as_secs_f64() * 1e3;
    for kind in ModelKind::PRECHECKS {
        let model = models.get(kind).unwrap();
        let mut totals: std::collections::BTreeMap<String, f64> = Default::default();
        for _ in 0..runs {
            for (op, ms) in model.profile(prepared.input(kind), &mut now).unwrap() {
                *totals.entry(op).or_default() += ms / runs as f64;
            }
        }
        let mut v: Vec<_> = totals.into_iter().collect();
        v.sort_by(|a, b| b.1.total_cmp(&a.1));
        let total: f64 = v.iter().map(|x| x.1).sum();
        let top: Vec<String> = v
            .iter()
            .take(6)
            .map(|(op, ms)| format!("{op} {ms:.2}"))
            .collect();
        println!("{:16} {total:7.2} ms | {}", kind.name(), top.join("; "));
    }
}
