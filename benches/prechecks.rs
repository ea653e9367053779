//! Native benchmarks of the precheck stages, the models alone, the tracked pipeline, model
//! loading and sealing, on the same 640×480 frames the browser bench page uses (the test
//! photos fitted on grey), so the wasm/native ratio is known stage by stage. The precheck
//! models run as in the browser: their NNEF forms on liveform's engine. `model_tract/…` runs
//! the ONNX files through tract, as the backend does, for the engine/tract ratio.
//!
//!     cargo bench -p liveform --bench prechecks            # everything
//!     cargo bench -p liveform --bench prechecks -- model/  # a filter
//!
//! Benchmarks, not tests: nothing here asserts a time. BENCHMARKS.md gives the figures and
//! how they compare with the browser's.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use liveform::frame::Frame;
use liveform::model::{onnx_to_nnef, Model, ModelFormat, ModelKind};
use liveform::vision::stages::{fit_frame, Prepared, Stage};
use liveform::vision::track::{Tracker, TrackerConfig};
use liveform::vision::{AnalyzeOptions, Models};
use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn model_bytes(kind: ModelKind) -> Vec<u8> {
    std::fs::read(root().join("models").join(kind.file_name())).expect("model file")
}

fn nnef_bytes(kind: ModelKind) -> Vec<u8> {
    let file = kind.file(ModelFormat::Nnef).expect("an NNEF form");
    std::fs::read(root().join("models").join(file.name)).expect("model file")
}

/// The models as the browser runs them: the prechecks' NNEF forms on liveform's engine
/// (and the descriptor, which has no NNEF form, through tract).
fn models() -> Models {
    let mut m = Models::default();
    for kind in ModelKind::ALL {
        match kind.file(ModelFormat::Nnef) {
            Some(_) => m.insert(Model::load_nnef(kind, &nnef_bytes(kind)).expect("model loads")),
            None => m.load(kind, &model_bytes(kind)).expect("model loads"),
        }
    }
    m
}

/// The bench frames: each test photo fitted into 640×480 (as the fake camera shows it).
fn frames(models: &Models) -> Vec<(&'static str, Prepared)> {
    ["astronaut.png", "grace_hopper.jpg"]
        .into_iter()
        .map(|name| {
            let bytes = std::fs::read(root().join("tests/data").join(name)).expect("photo");
            let frame = fit_frame(&Frame::decode(&bytes).expect("decodes"), 640, 480).unwrap();
            let label = name.split('.').next().unwrap_or(name);
            (label, Prepared::new(models, frame).expect("a face"))
        })
        .collect()
}

fn stages(c: &mut Criterion) {
    let models = models();
    let frames = frames(&models);
    let mut g = c.benchmark_group("stage");
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(3));
    g.sample_size(20);
    for stage in Stage::ALL {
        for (name, p) in &frames {
            g.bench_with_input(BenchmarkId::new(stage.name(), name), p, |b, p| {
                b.iter(|| black_box(p.run(&models, stage).unwrap()))
            });
        }
    }
    g.finish();

    let mut g = c.benchmark_group("model");
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(3));
    g.sample_size(20);
    for kind in ModelKind::ALL {
        let (name, p) = &frames[0];
        let input = p.input(kind);
        g.bench_with_input(BenchmarkId::new(kind.name(), name), &input, |b, input| {
            b.iter(|| black_box(Prepared::run_model(&models, kind, input.clone()).unwrap()))
        });
    }
    g.finish();

    // The same inputs through tract (the ONNX files, as the backend runs them).
    let mut g = c.benchmark_group("model_tract");
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(3));
    g.sample_size(20);
    for kind in ModelKind::PRECHECKS {
        let (name, p) = &frames[0];
        let input = p.input(kind);
        let model = Model::load_onnx(kind, &model_bytes(kind)).expect("model loads");
        g.bench_with_input(BenchmarkId::new(kind.name(), name), &input, |b, input| {
            b.iter(|| black_box(model.run(input.clone()).unwrap()))
        });
    }
    g.finish();

    // The capture loop's steady state: one tracker step per frame on a still face. "tracked"
    // never re-detects nor re-classifies (the cost of most frames); "default" is the
    // default schedule amortised (detector every 30 frames, each classifier every 10, one
    // per frame); "batched" the same with the three classifiers on one frame.
    let mut g = c.benchmark_group("pipeline");
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(3));
    g.sample_size(20);
    for (label, config) in [
        (
            "tracked",
            TrackerConfig {
                redetect_every: u32::MAX,
                classify_every: u32::MAX,
                ..Default::default()
            },
        ),
        ("default", TrackerConfig::default()),
        (
            "batched",
            TrackerConfig {
                spread_classifiers: false,
                ..Default::default()
            },
        ),
    ] {
        for (name, p) in &frames {
            let mut t = Tracker::new(config);
            let view = p.frame().view().unwrap();
            g.bench_function(BenchmarkId::new(format!("tracker_{label}"), name), |b| {
                b.iter(|| black_box(t.step(&models, &view, &AnalyzeOptions::default()).unwrap()))
            });
        }
    }
    g.finish();
}

fn loading(c: &mut Criterion) {
    let mut g = c.benchmark_group("load");
    g.sample_size(10);
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(5));
    for kind in ModelKind::PRECHECKS {
        let bytes = model_bytes(kind);
        g.bench_with_input(BenchmarkId::new(kind.name(), "onnx"), &bytes, |b, bytes| {
            b.iter(|| black_box(Model::load_onnx(kind, bytes).unwrap()))
        });
        // The form the browser loads: converted offline (typed, decluttered), read by
        // liveform's archive reader into its engine.
        let nnef = onnx_to_nnef(kind, &bytes).unwrap();
        g.bench_with_input(BenchmarkId::new(kind.name(), "nnef"), &nnef, |b, nnef| {
            b.iter(|| black_box(Model::load_nnef(kind, nnef).unwrap()))
        });
    }
    g.finish();
}

fn sealing(c: &mut Criterion) {
    use liveform::envelope::{generate_keypair_with_os_rng, seal_with_os_rng, SealContext, Suite};
    let key = generate_keypair_with_os_rng(Suite::default())
        .unwrap()
        .public_key;
    let ctx = SealContext::new("bench", "bench", 0, [0; 32]);
    let payload: Vec<u8> = (0..300 * 1024).map(|i| (i * 7 % 251) as u8).collect();
    let mut g = c.benchmark_group("seal");
    g.sample_size(20);
    g.bench_function("hpke_300KiB", |b| {
        b.iter(|| black_box(seal_with_os_rng(&key, &ctx, &payload).unwrap()))
    });
    g.finish();
}

criterion_group!(benches, stages, loading, sealing);
criterion_main!(benches);
