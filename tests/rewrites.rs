//! The models load with two operators rewritten (src/model.rs, `onnx_framework`): PReLU as
//! `x + (slope − 1)·min(x, 0)` and the 2×2 stride-2 max pool as maxima of strided copies.
//! Their outputs equal those of tract's own operators on the same inputs, and the rewritten
//! graphs hold no comparison, select or max pool any more.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::*;
use liveform::model::ModelKind;
use liveform::vision::stages::{fit_frame, Prepared};
use tract_onnx::prelude::*;

/// The model as tract's stock ONNX reader makes it (PReLU as compare + multiply + select,
/// its own max pool).
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
fn rewritten_operators_give_tract_outputs() {
    for photo_name in ["astronaut.png", "grace_hopper.jpg"] {
        let prepared = Prepared::new(models(), fit_frame(&photo(photo_name), 640, 480).unwrap())
            .expect("a face");
        // PReLU: mesh and palm; 2×2 max pools: all four (the anti-spoof model's 61×61 map has
        // an odd size, whose last row and column a valid pool drops).
        for kind in [
            ModelKind::FaceDetector,
            ModelKind::FaceMesh,
            ModelKind::Antispoof,
            ModelKind::PalmDetector,
        ] {
            let input = prepared.input(kind);
            let got = Prepared::run_model(models(), kind, input.clone()).unwrap();
            let tensor = Tensor::from_shape(&kind.input_shape(), &input).unwrap();
            let want = stock_plan(kind).run(tvec!(tensor.into())).unwrap();
            let want: Vec<Vec<f32>> = want
                .iter()
                .map(|w| {
                    w.to_plain_array_view::<f32>()
                        .unwrap()
                        .iter()
                        .copied()
                        .collect()
                })
                .collect();
            assert_outputs_close(&format!("{kind:?} on {photo_name}"), &got, &want);
        }
    }
}

/// The operator kinds the plan of `kind` runs.
fn operators(kind: ModelKind) -> Vec<String> {
    let model = models().get(kind).unwrap();
    let start = std::time::Instant::now();
    let mut now = || start.elapsed().as_secs_f64();
    let input = vec![0.5; kind.input_shape().iter().product()];
    let ops = model.profile(input, &mut now).unwrap();
    ops.into_iter().map(|(op, _)| op).collect()
}

#[test]
fn rewritten_graphs_have_no_select_or_max_pool() {
    let mesh = operators(ModelKind::FaceMesh);
    assert!(!mesh.iter().any(|op| op == "Iff" || op == "GT"), "{mesh:?}");
    assert!(
        mesh.iter().any(|op| op.contains("Min")),
        "the rewrite's min: {mesh:?}"
    );
    for kind in [
        ModelKind::FaceDetector,
        ModelKind::FaceMesh,
        ModelKind::Antispoof,
    ] {
        let ops = operators(kind);
        assert!(
            !ops.iter().any(|op| op.contains("MaxPool")),
            "{kind:?}: {ops:?}"
        );
        assert!(ops.iter().any(|op| op == "Downsample"), "{kind:?}: {ops:?}");
    }
}
