//! Writes the NNEF form of each precheck model (typed, decluttered, fixed input shape) — the
//! form the browser loads — from the pinned ONNX files:
//! `cargo run --example nnef_convert [-- OUT_DIR]` (default `models/`). Prints each file's
//! size and sha256, which `ModelKind::nnef_file` pins; a native test converts again and
//! checks the committed files are exactly this output.

use liveform::model::{onnx_to_nnef, sha256_hex, ModelFormat, ModelKind};
use std::path::PathBuf;

fn main() {
    let models = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models");
    let out = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| models.clone());
    std::fs::create_dir_all(&out).expect("output directory");
    for kind in ModelKind::PRECHECKS {
        let onnx = std::fs::read(models.join(kind.file_name())).expect("model file");
        let nnef = onnx_to_nnef(kind, &onnx).unwrap_or_else(|e| panic!("{}: {e}", kind.name()));
        let file = kind
            .file(ModelFormat::Nnef)
            .expect("precheck models have an NNEF form");
        std::fs::write(out.join(file.name), &nnef).expect("write");
        println!(
            "{} {} bytes sha256 {} (ONNX {} bytes)",
            file.name,
            nnef.len(),
            sha256_hex(&nnef),
            onnx.len()
        );
    }
}
