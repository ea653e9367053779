//! Where an NNEF model load's time goes natively, phase by phase, read the way tract reads
//! it (a new full framework each time: its standard library parsed and registries built,
//! then tract's nom parser) and the way liveform does (`read_nnef_proto`: the fast text
//! reader; liveform's reader-only framework is built once per thread). Then tract's
//! translation to a typed graph, its code generation (`optimize`) and the runnable plan,
//! which both share; and, last, the whole load as the SDK does it now (`Model::load_nnef`:
//! liveform's engine, no tract). `cargo run --example load_phases [RUNS]` (medians of RUNS
//! loads; the dev profile builds tract at opt-level 3, where the time is spent).

use liveform::model::{read_nnef_proto, Model, ModelFormat, ModelKind};
use std::path::PathBuf;
use std::time::Instant;
use tract_nnef::prelude::*;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn ms(f: impl FnOnce()) -> f64 {
    let t = Instant::now();
    f();
    t.elapsed().as_secs_f64() * 1e3
}

fn main() {
    let runs: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(9);
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models");
    println!("ms, median of {runs} loads");
    println!(
        "{:16} {:>9} {:>11} | {:>10} | {:>9} {:>8} {:>8} | {:>10}",
        "model",
        "framework",
        "tract read",
        "fast read",
        "translate",
        "optimize",
        "runnable",
        "engine load"
    );
    for kind in ModelKind::PRECHECKS {
        let file = kind.file(ModelFormat::Nnef).expect("an NNEF form");
        let nnef = std::fs::read(dir.join(file.name)).expect("model file (nnef_convert)");
        let mut t: [Vec<f64>; 7] = Default::default();
        for _ in 0..runs {
            let mut framework = None;
            t[0].push(ms(|| framework = Some(tract_nnef::nnef())));
            let framework = framework.unwrap();
            t[1].push(ms(|| {
                std::hint::black_box(
                    framework
                        .proto_model_for_read(&mut std::io::Cursor::new(&nnef))
                        .expect("tract reads"),
                );
            }));
            let mut proto = None;
            t[2].push(ms(|| proto = Some(read_nnef_proto(&nnef).expect("reads"))));
            let mut model = None;
            t[3].push(ms(|| {
                model = Some(
                    framework
                        .model_for_proto_model(proto.as_ref().unwrap())
                        .expect("translates"),
                )
            }));
            let mut model = model.unwrap();
            t[4].push(ms(|| model.optimize().expect("optimises")));
            t[5].push(ms(|| {
                std::hint::black_box(model.into_runnable().expect("runnable"));
            }));
            t[6].push(ms(|| {
                std::hint::black_box(Model::load_nnef(kind, &nnef).expect("loads"));
            }));
        }
        let [f, tr, fr, tl, o, p, total] = t.map(median);
        println!(
            "{:16} {f:9.2} {tr:11.2} | {fr:10.2} | {tl:9.2} {o:8.2} {p:8.2} | {total:10.2}",
            kind.name()
        );
    }
}
