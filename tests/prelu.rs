//! The face mesh and palm detector load with PReLU rewritten as `x + (slope − 1)·min(x, 0)`
//! (src/model.rs, `onnx_framework`): their outputs equal those of tract's own PReLU on the
//! same inputs, and the rewritten graph holds no comparison or select any more.
#![cfg(all(feature = "onnx", not(target_arch = "wasm32")))]

mod common;

use common::*;
use liveform::model::ModelKind;
use liveform::vision::stages::{fit_frame, Prepared};
use tract_onnx::prelude::*;

/// The model as tract's stock ONNX reader makes it (PReLU as compare + multiply + select).
fn stock_plan(kind: ModelKind) -> std::sync::Arc<TypedRunnableModel> {
    tract_onnx::onnx()
        .model_for_read(&mut std::io::Cursor::new(model_bytes(kind)))
        .unwrap()
        .with_input_fact(0, f32::fact(kind.input_shape()).into())
        .unwrap()
        .into_optimized()
        .unwrap()
        .into_runnable()
        .unwrap()
}

#[test]
fn rewritten_prelu_gives_tract_prelu_outputs() {
    for photo_name in ["astronaut.png", "grace_hopper.jpg"] {
        let prepared = Prepared::new(models(), fit_frame(&photo(photo_name), 640, 480).unwrap())
            .expect("a face");
        for kind in [ModelKind::FaceMesh, ModelKind::PalmDetector] {
            let input = prepared.input(kind);
            let got = Prepared::run_model(models(), kind, input.clone()).unwrap();
            let tensor = Tensor::from_shape(&kind.input_shape(), &input).unwrap();
            let want = stock_plan(kind).run(tvec!(tensor.into())).unwrap();
            assert_eq!(got.len(), want.len(), "{kind:?}");
            for (g, w) in got.iter().zip(&want) {
                let w: Vec<f32> = w
                    .to_plain_array_view::<f32>()
                    .unwrap()
                    .iter()
                    .copied()
                    .collect();
                assert_eq!(g.len(), w.len(), "{kind:?}");
                let diff = g
                    .iter()
                    .zip(&w)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0, f32::max);
                let scale = w.iter().map(|v| v.abs()).fold(1.0, f32::max);
                assert!(
                    diff <= 1e-4 * scale,
                    "{kind:?} on {photo_name}: max |Δ| {diff} (scale {scale})"
                );
            }
        }
    }
}

#[test]
fn rewritten_graph_has_no_select() {
    let model = models().get(ModelKind::FaceMesh).unwrap();
    let start = std::time::Instant::now();
    let mut now = || start.elapsed().as_secs_f64();
    let input = vec![0.5; ModelKind::FaceMesh.input_shape().iter().product()];
    let ops: Vec<String> = model
        .profile(input, &mut now)
        .unwrap()
        .into_iter()
        .map(|(op, _)| op)
        .collect();
    assert!(!ops.iter().any(|op| op == "Iff" || op == "GT"), "{ops:?}");
    assert!(
        ops.iter().any(|op| op.contains("Min")),
        "the min of the rewrite is there: {ops:?}"
    );
}
