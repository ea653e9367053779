//! liveform's engine against tract on the same NNEF files, natively, side by side:
//! `cargo run --profile bench --example engine_vs_tract [RUNS]`. Per model: load time
//! (median of 5) and run time (median of RUNS, the two engines interleaved A B A B on the
//! astronaut frame's input), then the engine's time by operator kind.

use liveform::frame::Frame;
use liveform::model::{Model, ModelFormat, ModelKind};
use liveform::vision::stages::{fit_frame, Prepared};
use liveform::vision::Models;
use std::path::PathBuf;
use std::time::Instant;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let runs: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(30);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let models = Models::load_dir(&root.join("models"), &ModelKind::PRECHECKS).expect("models");
    let photo =
        Frame::decode(&std::fs::read(root.join("tests/data/astronaut.png")).unwrap()).unwrap();
    let prepared = Prepared::new(&models, fit_frame(&photo, 640, 480).unwrap()).expect("a face");
    let ms = |f: &mut dyn FnMut()| {
        let t = Instant::now();
        f();
        t.elapsed().as_secs_f64() * 1e3
    };
    println!("model            load ms: tract  engine | run ms: tract  engine  engine/tract");
    for kind in ModelKind::PRECHECKS {
        let file = kind.file(ModelFormat::Nnef).unwrap();
        let bytes = std::fs::read(root.join("models").join(file.name)).unwrap();
        let (mut lt, mut le) = (vec![], vec![]);
        let (mut tract, mut engine) = (None, None);
        for _ in 0..5 {
            lt.push(ms(&mut || {
                tract = Some(Model::load_nnef_tract(kind, &bytes).unwrap())
            }));
            le.push(ms(&mut || {
                engine = Some(Model::load_nnef(kind, &bytes).unwrap())
            }));
        }
        let (tract, engine) = (tract.unwrap(), engine.unwrap());
        let input = prepared.input(kind);
        let (mut rt, mut re, mut ratio) = (vec![], vec![], vec![]);
        for i in 0..runs + 3 {
            let t = ms(&mut || drop(tract.run(input.clone()).unwrap()));
            let e = ms(&mut || drop(engine.run(input.clone()).unwrap()));
            if i >= 3 {
                rt.push(t);
                re.push(e);
                ratio.push(e / t);
            }
        }
        println!(
            "{:16} {:12.1} {:7.1} | {:13.2} {:7.2} {:8.2}×",
            kind.name(),
            median(lt),
            median(le),
            median(rt),
            median(re),
            median(ratio)
        );
        let start = Instant::now();
        let mut now = || start.elapsed().as_secs_f64() * 1e3;
        let mut totals: std::collections::BTreeMap<String, f64> = Default::default();
        for _ in 0..runs {
            for (op, t) in engine.profile(input.clone(), &mut now).unwrap() {
                *totals.entry(op).or_default() += t / runs as f64;
            }
        }
        let mut v: Vec<_> = totals.into_iter().collect();
        v.sort_by(|a, b| b.1.total_cmp(&a.1));
        let top: Vec<String> = v
            .iter()
            .take(6)
            .map(|(op, t)| format!("{op} {t:.2}"))
            .collect();
        println!("{:16} engine by operator: {}", "", top.join("; "));
    }
}
