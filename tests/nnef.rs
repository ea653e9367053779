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
        assert_outputs_close(&format!("{kind:?}"), &got, &want);
        let err = Model::load_nnef(kind, &nnef, &"0".repeat(64)).unwrap_err();
        assert_eq!(err.code, ErrorCode::ModelChecksum);
    }
}
