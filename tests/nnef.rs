//! The NNEF forms the browser loads (`models/*.nnef.tar`): they are exactly what
//! `onnx_to_nnef` makes from the pinned ONNX files, they give the ONNX model's outputs,
//! liveform's archive reader gives tract's own proto model for them, and a wrong hash or a
//! damaged archive is a typed error.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::*;
use liveform::model::nnef_text::{read_document, Outcome};
use liveform::model::{onnx_to_nnef, read_nnef_proto, Model, ModelFormat, ModelKind};
use liveform::vision::stages::{fit_frame, Prepared};
use liveform::ErrorCode;
use tract_nnef::prelude::Framework;

fn nnef_bytes(kind: ModelKind) -> Vec<u8> {
    let file = kind.file(ModelFormat::Nnef).expect("an NNEF form");
    std::fs::read(root().join("models").join(file.name)).expect("NNEF file")
}

#[test]
fn committed_nnef_files_are_the_conversion_of_the_onnx_files() {
    for kind in ModelKind::PRECHECKS {
        let converted = onnx_to_nnef(kind, &model_bytes(kind)).expect("converts");
        assert!(
            converted == nnef_bytes(kind),
            "{kind:?}: models/{} differs from a fresh conversion: run `cargo run --example \
             nnef_convert` and pin the new sha256",
            kind.file(ModelFormat::Nnef).unwrap().name
        );
    }
    assert!(ModelKind::FaceDescriptor.file(ModelFormat::Nnef).is_none());
}

#[test]
fn nnef_models_give_the_onnx_outputs() {
    for photo_name in ["astronaut.png", "grace_hopper.jpg"] {
        let prepared = Prepared::new(models(), fit_frame(&photo(photo_name), 640, 480).unwrap())
            .expect("a face");
        for kind in ModelKind::PRECHECKS {
            let model = Model::load_nnef(kind, &nnef_bytes(kind)).expect("loads");
            let input = prepared.input(kind);
            let want = Prepared::run_model(models(), kind, input.clone()).unwrap();
            let got = model.run(input).unwrap();
            assert_outputs_close(&format!("{kind:?} on {photo_name}"), &got, &want);
        }
    }
}

/// The fast reader's proto model is tract's, text and tensors, for every committed file;
/// and it really read the text itself (no fallback to tract's parser).
#[test]
fn archive_reader_gives_tracts_proto_model() {
    // tract's full NNEF framework, the reference reader.
    let tract = tract_nnef::nnef();
    for kind in ModelKind::PRECHECKS {
        let bytes = nnef_bytes(kind);
        let ours = read_nnef_proto(&bytes).expect("reads");
        let theirs = tract
            .proto_model_for_read(&mut std::io::Cursor::new(&bytes))
            .expect("tract reads");
        assert_eq!(ours.doc, theirs.doc, "{kind:?}: document");
        assert_eq!(
            ours.tensors.len(),
            theirs.tensors.len(),
            "{kind:?}: tensors"
        );
        for (id, tensor) in &theirs.tensors {
            assert_eq!(
                ours.tensors.get(id),
                Some(tensor),
                "{kind:?}: tensor {id:?}"
            );
        }
        assert!(ours.quantization.is_none() && theirs.quantization.is_none());

        let text = graph_text(&bytes);
        assert!(
            matches!(read_document(&text), Outcome::Read(_)),
            "{kind:?}: the fast reader fell back to tract's parser"
        );
    }
}

fn graph_text(archive: &[u8]) -> String {
    use std::io::Read;
    let mut ar = tar::Archive::new(archive);
    for entry in ar.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.path().unwrap().ends_with("graph.nnef") {
            let mut s = String::new();
            entry.read_to_string(&mut s).unwrap();
            return s;
        }
    }
    panic!("no graph.nnef")
}

#[test]
fn wrong_hash_or_damaged_archive_is_a_typed_error() {
    let kind = ModelKind::FaceDetector;
    let mut bytes = nnef_bytes(kind);
    bytes[2000] ^= 1;
    let err = Model::load_nnef(kind, &bytes).unwrap_err();
    assert_eq!(err.code, ErrorCode::ModelChecksum);
    // The ONNX file is not the NNEF form.
    let err = Model::load_nnef(kind, &model_bytes(kind)).unwrap_err();
    assert_eq!(err.code, ErrorCode::ModelChecksum);
    // The descriptor has no NNEF form.
    let err = Model::load_nnef(ModelKind::FaceDescriptor, &bytes).unwrap_err();
    assert_eq!(err.code, ErrorCode::ModelInvalid);
    // Cut archives (past the hash check) are errors, not panics.
    let good = nnef_bytes(kind);
    for cut in [0, 100, 511, 512, 5000, good.len() / 2] {
        assert!(read_nnef_proto(&good[..cut]).is_err(), "cut at {cut}");
    }
    // Anything but graph.nnef and tensors is refused, not handed to other readers.
    let mut extra = tar::Builder::new(Vec::new());
    for (name, data) in [
        ("graph.nnef", graph_text(&good)),
        ("graph.quant", String::new()),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        extra
            .append_data(&mut header, name, data.as_bytes())
            .unwrap();
    }
    let err = read_nnef_proto(&extra.into_inner().unwrap()).unwrap_err();
    assert!(err.to_string().contains("graph.quant"), "{err}");
}
