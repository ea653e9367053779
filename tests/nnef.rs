//! Models converted to NNEF offline (the cold-start lever) load and give the ONNX model's
//! outputs; a wrong hash is refused.
#![cfg(all(feature = "onnx", not(target_arch = "wasm32")))]

mod common;

use common::*;
use liveform::model::{onnx_to_nnef, sha256_hex, Model, ModelKind};
use liveform::vision::stages::{fit_frame, Prepared};
use liveform::ErrorCode;

#[test]
fn nnef_models_match_onnx() {
    let prepared = Prepared::new(
        models(),
        fit_frame(&photo("astronaut.png"), 640, 480).unwrap(),
    )
    .expect("a face");
    for kind in [
        ModelKind::FaceDetector,
        ModelKind::FaceMesh,
        ModelKind::Antispoof,
    ] {
        let nnef = onnx_to_nnef(kind, &model_bytes(kind)).expect("converts");
        assert_eq!(
            nnef,
            onnx_to_nnef(kind, &model_bytes(kind)).unwrap(),
            "{kind:?}: conversion is deterministic"
        );
        let model = Model::load_nnef(kind, &nnef, &sha256_hex(&nnef)).expect("loads");
        let input = prepared.input(kind);
        let want = Prepared::run_model(models(), kind, input.clone()).unwrap();
        let got = model.run(input).unwrap();
        assert_eq!(got.len(), want.len(), "{kind:?}");
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g.len(), w.len(), "{kind:?}");
            let diff = g
                .iter()
                .zip(w)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            let scale = w.iter().map(|v| v.abs()).fold(1.0, f32::max);
            assert!(
                diff <= 1e-4 * scale,
                "{kind:?}: max |Δ| {diff} (scale {scale})"
            );
        }
        let err = Model::load_nnef(kind, &nnef, &"0".repeat(64)).unwrap_err();
        assert_eq!(err.code, ErrorCode::ModelChecksum);
    }
}
