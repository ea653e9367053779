//! Converts the precheck models to NNEF (typed, decluttered, fixed input shape), for the
//! cold-start lever in BENCHMARKS.md: `cargo run --profile bench --example nnef_convert -- OUT_DIR`
//! writes `OUT_DIR/<model>.nnef.tar` for each precheck model and `OUT_DIR/nnef.json`
//! (`{ name: { file, sha256 } }`) for the bench page.

use liveform::model::{onnx_to_nnef, sha256_hex, ModelKind};
use std::path::PathBuf;

fn main() {
    let out = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "bench/results/nnef".into()),
    );
    std::fs::create_dir_all(&out).expect("output directory");
    let models = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models");
    let mut manifest = serde_json::Map::new();
    for kind in ModelKind::PRECHECKS {
        let onnx = std::fs::read(models.join(kind.file_name())).expect("model file");
        let nnef = onnx_to_nnef(kind, &onnx).unwrap_or_else(|e| panic!("{}: {e}", kind.name()));
        let file = format!("{}.nnef.tar", kind.name());
        std::fs::write(out.join(&file), &nnef).expect("write");
        println!("{file}: {} bytes (ONNX {} bytes)", nnef.len(), onnx.len());
        manifest.insert(
            kind.name().into(),
            serde_json::json!({ "file": file, "sha256": sha256_hex(&nnef) }),
        );
    }
    std::fs::write(
        out.join("nnef.json"),
        serde_json::to_string_pretty(&manifest).expect("json"),
    )
    .expect("write manifest");
}
