//! Models are data: loaded at run time from bytes (a file natively, a fetch in the browser),
//! verified against the sha256 written here, parsed and prepared once.
//!
//! Each model ships in two forms: the ONNX file (the source, run natively by the backend
//! through tract) and its NNEF form (`models/*.nnef.tar`, converted offline by
//! [`onnx_to_nnef`]: typed and decluttered for the fixed input shape). The browser loads
//! the NNEF form only, into liveform's own [`engine`] ([`Model::load_nnef`]): its wasm has
//! no tract at all (0.46 MB gzip against 2.1 MB with tract's NNEF loader and optimiser),
//! and a load only reads the archive and packs the weights ([`ModelFormat`]).
//!
//! `models/MODELS.md` gives each file's provenance, license and tensor layout.

use crate::error::{Error, ErrorCode, Result};
use sha2::{Digest, Sha256};
use std::sync::Arc;
#[cfg(not(target_arch = "wasm32"))]
use tract_nnef::prelude::*;

/// The two forms a model ships in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelFormat {
    /// The ONNX file the model comes as (`models/*.onnx`).
    Onnx,
    /// Its NNEF form, converted offline by [`onnx_to_nnef`] (`models/*.nnef.tar`).
    Nnef,
}

impl ModelFormat {
    /// The form this build loads with [`Model::load`]: NNEF in the browser (the wasm has no
    /// ONNX reader), ONNX natively (the backend re-runs the checks on the source files).
    pub const LOADED: ModelFormat = if cfg!(target_arch = "wasm32") {
        ModelFormat::Nnef
    } else {
        ModelFormat::Onnx
    };
}

/// One model file: its name under `models/`, size and sha256.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelFile {
    pub name: &'static str,
    /// The size in bytes: the page's download progress knows its total before the first
    /// response arrives.
    pub byte_len: u64,
    /// The sha256 of the exact file this code was written and tested against.
    pub sha256: &'static str,
}

/// The models the SDK knows, with the exact file each expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    /// BlazeFace short-range face detector (128×128).
    FaceDetector,
    /// MediaPipe 468-point face mesh (192×192 face crop).
    FaceMesh,
    /// Passive anti-spoof classifier (128×128 face crop).
    Antispoof,
    /// Mask / no-mask classifier (224×224 face crop).
    MaskClassifier,
    /// MediaPipe palm detector, for a hand over the face (192×192).
    PalmDetector,
    /// Face descriptor for the 1:1 match (224×224 face crop, 1024-d).
    FaceDescriptor,
}

impl ModelKind {
    /// Every model, in loading order.
    pub const ALL: [ModelKind; 6] = [
        ModelKind::FaceDetector,
        ModelKind::FaceMesh,
        ModelKind::Antispoof,
        ModelKind::MaskClassifier,
        ModelKind::PalmDetector,
        ModelKind::FaceDescriptor,
    ];

    /// The models the on-device prechecks use (everything but the backend's descriptor).
    pub const PRECHECKS: [ModelKind; 5] = [
        ModelKind::FaceDetector,
        ModelKind::FaceMesh,
        ModelKind::Antispoof,
        ModelKind::MaskClassifier,
        ModelKind::PalmDetector,
    ];

    /// The models the first guidance needs: the page loads these first and the per-face
    /// classifiers after (until they are in, no frame can pass: `measure_missing`).
    pub const GUIDANCE: [ModelKind; 2] = [ModelKind::FaceDetector, ModelKind::FaceMesh];

    /// The file name under `models/`.
    pub fn file_name(self) -> &'static str {
        match self {
            ModelKind::FaceDetector => "face_detection_short_range.onnx",
            ModelKind::FaceMesh => "face_landmark.onnx",
            ModelKind::Antispoof => "human_antispoof.onnx",
            ModelKind::MaskClassifier => "face_mask_detector.onnx",
            ModelKind::PalmDetector => "mphands_palm_detection_lite.onnx",
            ModelKind::FaceDescriptor => "human_faceres.onnx",
        }
    }

    /// The size in bytes of that file: the page's download progress knows its total
    /// before the first response arrives.
    pub fn byte_len(self) -> u64 {
        match self {
            ModelKind::FaceDetector => 418_471,
            ModelKind::FaceMesh => 2_428_808,
            ModelKind::Antispoof => 1_710_588,
            ModelKind::MaskClassifier => 9_516_848,
            ModelKind::PalmDetector => 3_891_303,
            ModelKind::FaceDescriptor => 13_980_515,
        }
    }

    /// The sha256 of the exact file this code was written and tested against.
    pub fn sha256(self) -> &'static str {
        match self {
            ModelKind::FaceDetector => {
                "22a455602c6de222e469ec4e8a8689e5ebeb44128e8761d7929d39ab8e77c93c"
            }
            ModelKind::FaceMesh => {
                "b6cfe5dd8b52921ece843a9b2bcd08a066688e00b82217cd5e49b1ebe7728c77"
            }
            ModelKind::Antispoof => {
                "5065df1b46aa65fb79a4bb9115c87db9ea1075ae8ae780225801a9876da05337"
            }
            ModelKind::MaskClassifier => {
                "3425ad10f678b0b03ce0c54513525878c6c5ed847d42a22e06737841e455d423"
            }
            ModelKind::PalmDetector => {
                "5665758493e3855b90272f4a9da16048ba0ec60e9a2b6ce6598e45b640a7787c"
            }
            ModelKind::FaceDescriptor => {
                "9043263332037ba12fa309e9d71b53b1c960db863dcf74f636161b1b1250aec8"
            }
        }
    }

    /// The file of this model in `format`; `None` for the NNEF form of the descriptor,
    /// which runs on the backend only.
    pub fn file(self, format: ModelFormat) -> Option<ModelFile> {
        match format {
            ModelFormat::Onnx => Some(ModelFile {
                name: self.file_name(),
                byte_len: self.byte_len(),
                sha256: self.sha256(),
            }),
            ModelFormat::Nnef => self.nnef_file(),
        }
    }

    /// The NNEF form, exactly as [`onnx_to_nnef`] writes it from the pinned ONNX file (a
    /// native test converts again and compares the bytes).
    fn nnef_file(self) -> Option<ModelFile> {
        let (name, byte_len, sha256) = match self {
            ModelKind::FaceDetector => (
                "face_detection_short_range.nnef.tar",
                495_616,
                "e2e4a03f5c9d16aee1250e96710692181ab94b2ab8e15de1018cadaec838fb54",
            ),
            ModelKind::FaceMesh => (
                "face_landmark.nnef.tar",
                2_563_584,
                "9774d9ca450e441e3ff8939c12718b23fc549fa0cf7435fcd62d53069183a3ad",
            ),
            ModelKind::Antispoof => (
                "human_antispoof.nnef.tar",
                1_727_488,
                "9e5e51fedae46839eef2d39d329a54b1a5132ed02d9c773cbcf80fb3629299b6",
            ),
            ModelKind::MaskClassifier => (
                "face_mask_detector.nnef.tar",
                9_649_664,
                "e1e5b9b9e4b87e357399e1732bdcc42fd8a4ffcf82c23d86150d7e1cedcb79b0",
            ),
            ModelKind::PalmDetector => (
                "mphands_palm_detection_lite.nnef.tar",
                4_205_568,
                "b1ef777aedb14a7331ad43c70eae8c00074f8d16bcfa23e600506ce6d99e6a52",
            ),
            ModelKind::FaceDescriptor => return None,
        };
        Some(ModelFile {
            name,
            byte_len,
            sha256,
        })
    }

    /// The NHWC input shape the model is run with.
    pub fn input_shape(self) -> [usize; 4] {
        match self {
            ModelKind::FaceDetector => [1, 128, 128, 3],
            ModelKind::FaceMesh => [1, 192, 192, 3],
            ModelKind::Antispoof => [1, 128, 128, 3],
            ModelKind::MaskClassifier => [1, 224, 224, 3],
            ModelKind::PalmDetector => [1, 192, 192, 3],
            ModelKind::FaceDescriptor => [1, 224, 224, 3],
        }
    }

    /// Parses the stable snake_case name (as in JSON and the JS API).
    pub fn from_name(name: &str) -> Option<ModelKind> {
        ModelKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The stable snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::FaceDetector => "face_detector",
            ModelKind::FaceMesh => "face_mesh",
            ModelKind::Antispoof => "antispoof",
            ModelKind::MaskClassifier => "mask_classifier",
            ModelKind::PalmDetector => "palm_detector",
            ModelKind::FaceDescriptor => "face_descriptor",
        }
    }
}

/// Hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// `model_checksum` unless `bytes` hash to `expected` (`what` names the file in the error).
fn check_sha256(what: &str, bytes: &[u8], expected: &str) -> Result<()> {
    let got = sha256_hex(bytes);
    if got != expected {
        return Err(Error::new(
            ErrorCode::ModelChecksum,
            format!("{what}: sha256 {got}, expected {expected}"),
        ));
    }
    Ok(())
}

#[cfg(not(target_arch = "wasm32"))]
type Plan = TypedRunnableModel;

/// The ONNX operators tract runs slowly, read another way (`onnx_rewrites::onnx_framework`).
#[cfg(not(target_arch = "wasm32"))]
mod onnx_rewrites;
#[cfg(not(target_arch = "wasm32"))]
use onnx_rewrites::onnx_framework;

/// The fast reader for tract's NNEF text (`graph.nnef`).
pub mod nnef_text;

/// The NNEF document [`nnef_text`] reads (tract's AST, type for type).
pub mod nnef_ast;

/// liveform's own inference engine: what runs the NNEF models (the browser's only engine).
pub mod engine;

/// The operators the models are written with, registered for reading into tract.
#[cfg(not(target_arch = "wasm32"))]
mod nnef_ops;

#[cfg(not(target_arch = "wasm32"))]
thread_local! {
    /// Built once per thread, not per load: making a framework parses tract's NNEF standard
    /// library and builds its operator registries (~20 ms natively for tract's full one).
    static NNEF: tract_nnef::framework::Nnef = nnef_ops::reader_framework();
}

/// Reads an NNEF archive as [`onnx_to_nnef`] writes it — `graph.nnef` and tensor files —
/// into tract's proto model (natively, for tract's loader: [`Model::load_nnef_tract`]), its
/// text by [`nnef_text`]. Other content (quantisation tables, sub-models, other resources)
/// is refused: the models this SDK loads have none.
#[cfg(not(target_arch = "wasm32"))]
pub fn read_nnef_proto(bytes: &[u8]) -> TractResult<tract_nnef::ast::ProtoModel> {
    read_nnef_archive(bytes, |text| match nnef_text::read_document(text) {
        nnef_text::Outcome::Read(doc) => Ok((*doc).into()),
        nnef_text::Outcome::Unsupported => tract_nnef::ast::parse::parse_document(text),
        nnef_text::Outcome::TooDeep => Err(TractError::msg(format!(
            "graph.nnef nests deeper than {} levels",
            nnef_text::MAX_DEPTH
        ))),
    })
}

/// The tensors of an NNEF archive, by label: shape and `f32` data (shared with the engine's
/// constants, not copied into them).
pub type NnefTensors = std::collections::HashMap<String, (Vec<usize>, Arc<Vec<f32>>)>;

/// Reads an NNEF archive as [`onnx_to_nnef`] writes it for liveform's [`engine`]: the text
/// by [`nnef_text`] (a document outside its subset is refused, there is no fallback
/// parser), the `.dat` tensors by liveform's reader (`f32` only).
pub fn read_nnef_archive_for_engine(
    bytes: &[u8],
) -> std::result::Result<(nnef_ast::Document, NnefTensors), String> {
    let (text, tensors) = read_archive_parts(bytes)?;
    match nnef_text::read_document(&text) {
        nnef_text::Outcome::Read(doc) => Ok((*doc, tensors)),
        nnef_text::Outcome::Unsupported => {
            Err("graph.nnef: outside the NNEF subset liveform reads".into())
        }
        nnef_text::Outcome::TooDeep => Err(format!(
            "graph.nnef nests deeper than {} levels",
            nnef_text::MAX_DEPTH
        )),
    }
}

/// The parts of a model archive: the text of `graph.nnef` and the `.dat` tensors by label.
/// Other content (quantisation tables, sub-models, other resources) is refused: the models
/// this SDK loads have none.
fn read_archive_parts(bytes: &[u8]) -> std::result::Result<(String, NnefTensors), String> {
    use std::io::Read;
    let mut text = None;
    let mut tensors = NnefTensors::new();
    let mut archive = tar::Archive::new(bytes);
    for entry in archive.entries().map_err(|e| e.to_string())? {
        let mut entry = entry.map_err(|e| e.to_string())?;
        let kind = entry.header().entry_type();
        if kind.is_dir() {
            continue;
        }
        let path = entry
            .path()
            .map_err(|e| e.to_string())?
            .to_string_lossy()
            .into_owned();
        let path = path.strip_prefix("./").unwrap_or(&path).to_string();
        if !kind.is_file() {
            return Err(format!("{path}: not a regular file in the archive"));
        }
        // No entry can claim more than the archive holds.
        let mut data = Vec::with_capacity((entry.size() as usize).min(bytes.len()));
        entry
            .read_to_end(&mut data)
            .map_err(|e| format!("{path}: {e}"))?;
        if path == "graph.nnef" {
            text = Some(String::from_utf8(data).map_err(|_| "graph.nnef is not UTF-8")?);
        } else if let Some(label) = path.strip_suffix(".dat") {
            let tensor = read_f32_tensor(&data).map_err(|e| format!("{path}: {e}"))?;
            tensors.insert(label.to_string(), tensor);
        } else {
            return Err(format!(
                "{path}: not a part of a liveform model archive (graph.nnef and .dat tensors)"
            ));
        }
    }
    let text = text.ok_or("the archive has no graph.nnef")?;
    Ok((text, tensors))
}

/// One NNEF tensor file (a 128-byte header, then the data), if it holds 32-bit floats.
fn read_f32_tensor(bytes: &[u8]) -> std::result::Result<(Vec<usize>, Arc<Vec<f32>>), String> {
    let u32_at =
        |at: usize| u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    if bytes.len() < 128 || bytes[..2] != [0x4e, 0xef] {
        return Err("not an NNEF tensor file".into());
    }
    let (data_len, rank) = (u32_at(4) as usize, u32_at(8) as usize);
    if rank > 8 {
        return Err(format!("rank {rank}"));
    }
    let shape: Vec<usize> = (0..rank).map(|d| u32_at(12 + 4 * d) as usize).collect();
    let (bits, item_type, vendor) = (
        u32_at(44),
        u16::from_le_bytes([bytes[48], bytes[49]]),
        u16::from_le_bytes([bytes[50], bytes[51]]),
    );
    if bits != 32 || item_type != 0 || vendor != 0 {
        return Err(format!(
            "not 32-bit floats (bits {bits}, type {item_type}, vendor {vendor})"
        ));
    }
    let count = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or("shape overflows")?;
    if count.checked_mul(4) != Some(data_len) || bytes.len() != 128 + data_len {
        return Err(format!(
            "shape {shape:?} does not match {data_len} data bytes"
        ));
    }
    let data = bytes[128..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Ok((shape, Arc::new(data)))
}

/// The archive's parts ([`read_archive_parts`]) as tract's proto model, its text read by
/// `parse`.
#[cfg(not(target_arch = "wasm32"))]
fn read_nnef_archive(
    bytes: &[u8],
    parse: impl FnOnce(&str) -> TractResult<tract_nnef::ast::Document>,
) -> TractResult<tract_nnef::ast::ProtoModel> {
    use tract_nnef::ast::{Identifier, ProtoModel};
    let (text, parts) = read_archive_parts(bytes).map_err(TractError::msg)?;
    let mut tensors = std::collections::HashMap::new();
    for (label, (shape, data)) in parts {
        tensors.insert(
            Identifier(label),
            Arc::new(Tensor::from_shape(&shape, &data[..])?),
        );
    }
    let proto = ProtoModel {
        doc: parse(&text)?,
        tensors,
        quantization: None,
        resources: Default::default(),
    };
    proto.validate()?;
    Ok(proto)
}

/// Reads an ONNX model (with the operator rewrites) for `kind`'s fixed input shape.
#[cfg(not(target_arch = "wasm32"))]
fn read_onnx(kind: ModelKind, onnx: &[u8]) -> TractResult<tract_onnx::prelude::InferenceModel> {
    onnx_framework()
        .model_for_read(&mut std::io::Cursor::new(onnx))?
        .with_input_fact(0, f32::fact(kind.input_shape()).into())
}

/// Converts a verified ONNX model to NNEF (a tar archive): typed and decluttered for the
/// model's fixed input shape, written deterministically (same bytes for the same input).
/// Run offline (natively: `cargo run --example nnef_convert`); [`Model::load_nnef`] loads
/// the result.
#[cfg(not(target_arch = "wasm32"))]
pub fn onnx_to_nnef(kind: ModelKind, onnx: &[u8]) -> Result<Vec<u8>> {
    check_sha256(kind.file_name(), onnx, kind.sha256())?;
    let invalid = |e: TractError| {
        Error::new(
            ErrorCode::ModelInvalid,
            format!("{} to NNEF: {e}", kind.file_name()),
        )
    };
    use tract_onnx::prelude::InferenceModelExt;
    let typed = read_onnx(kind, onnx)
        .and_then(|model| model.into_typed()?.into_decluttered())
        .map_err(invalid)?;
    // tract's full framework: the writers of every operator.
    tract_nnef::nnef()
        .write_to_tar_with_config(&typed, Vec::new(), false, true)
        .map_err(invalid)
}

/// A verified model ready to run.
pub struct Model {
    kind: ModelKind,
    runner: Runner,
}

/// What runs a model: tract's optimised plan (the ONNX files, natively) or liveform's own
/// engine (the NNEF forms, everywhere).
enum Runner {
    #[cfg(not(target_arch = "wasm32"))]
    Tract(std::sync::Arc<Plan>),
    Engine(std::sync::Arc<engine::Engine>),
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model").field("kind", &self.kind).finish()
    }
}

impl Model {
    /// Verifies and loads `bytes` in the form this build loads ([`ModelFormat::LOADED`]):
    /// the NNEF file in the browser, the ONNX file natively.
    pub fn load(kind: ModelKind, bytes: &[u8]) -> Result<Model> {
        #[cfg(target_arch = "wasm32")]
        return Model::load_nnef(kind, bytes);
        #[cfg(not(target_arch = "wasm32"))]
        Model::load_onnx(kind, bytes)
    }

    /// Verifies `bytes` against the pinned sha256 of `kind`'s ONNX file, then parses and
    /// optimises it. Natively only: the browser build has no ONNX reader.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn load_onnx(kind: ModelKind, bytes: &[u8]) -> Result<Model> {
        check_sha256(kind.file_name(), bytes, kind.sha256())?;
        let invalid = |e: TractError| {
            Error::new(
                ErrorCode::ModelInvalid,
                format!("{}: {e}", kind.file_name()),
            )
        };
        use tract_onnx::prelude::InferenceModelExt;
        let plan = read_onnx(kind, bytes)
            .and_then(|model| model.into_optimized()?.into_runnable())
            .map_err(invalid)?;
        Ok(Model {
            kind,
            runner: Runner::Tract(plan),
        })
    }

    /// Loads `kind`'s NNEF form (made by [`onnx_to_nnef`]), verified against its pinned
    /// sha256, into liveform's own [`engine`]: the archive is read
    /// ([`read_nnef_archive_for_engine`]), every shape resolved, the weights packed.
    pub fn load_nnef(kind: ModelKind, bytes: &[u8]) -> Result<Model> {
        let file = Model::nnef_file(kind, bytes)?;
        let invalid =
            |e: String| Error::new(ErrorCode::ModelInvalid, format!("{}: {e}", file.name));
        let (doc, tensors) = read_nnef_archive_for_engine(bytes).map_err(invalid)?;
        let engine = engine::Engine::build(&doc, &tensors, &kind.input_shape()).map_err(invalid)?;
        Ok(Model {
            kind,
            runner: Runner::Engine(std::sync::Arc::new(engine)),
        })
    }

    /// `kind`'s NNEF file, once `bytes` are checked against its pinned sha256.
    fn nnef_file(kind: ModelKind, bytes: &[u8]) -> Result<ModelFile> {
        let Some(file) = kind.file(ModelFormat::Nnef) else {
            return Err(Error::new(
                ErrorCode::ModelInvalid,
                format!("{} has no NNEF form (it runs on the backend)", kind.name()),
            ));
        };
        check_sha256(file.name, bytes, file.sha256)?;
        Ok(file)
    }

    /// The NNEF form loaded into tract instead (its code generation and optimised plan), as
    /// the browser did before liveform's engine: natively only, for the tests and the
    /// benchmarks' side by side comparison (BENCHMARKS.md); the SDK never uses it.
    #[doc(hidden)]
    #[cfg(not(target_arch = "wasm32"))]
    pub fn load_nnef_tract(kind: ModelKind, bytes: &[u8]) -> Result<Model> {
        Model::load_nnef_through(kind, bytes, |bytes| {
            let proto = read_nnef_proto(bytes)?;
            NNEF.with(|nnef| nnef.model_for_proto_model(&proto))
        })
    }

    /// [`Model::load_nnef_tract`] with the archive's text parsed by tract's own parser and
    /// the framework built for this load, as before the fast reader.
    #[doc(hidden)]
    #[cfg(not(target_arch = "wasm32"))]
    pub fn load_nnef_with_tract_parser(kind: ModelKind, bytes: &[u8]) -> Result<Model> {
        Model::load_nnef_through(kind, bytes, |bytes| {
            let proto = read_nnef_archive(bytes, tract_nnef::ast::parse::parse_document)?;
            nnef_ops::reader_framework().model_for_proto_model(&proto)
        })
    }

    /// Checks `bytes` against `kind`'s pinned NNEF file, makes the typed graph with
    /// `translate`, then runs tract's code generation.
    #[cfg(not(target_arch = "wasm32"))]
    fn load_nnef_through(
        kind: ModelKind,
        bytes: &[u8],
        translate: impl FnOnce(&[u8]) -> TractResult<TypedModel>,
    ) -> Result<Model> {
        let file = Model::nnef_file(kind, bytes)?;
        let invalid =
            |e: TractError| Error::new(ErrorCode::ModelInvalid, format!("{}: {e}", file.name));
        let mut model = translate(bytes).map_err(invalid)?;
        model.optimize().map_err(invalid)?;
        let plan = model.into_runnable().map_err(invalid)?;
        Ok(Model {
            kind,
            runner: Runner::Tract(plan),
        })
    }

    /// Runs the model once on `input` and returns the time spent in each kind of operator
    /// (summed by operator name, largest first), in the unit of `now`. The caller passes the
    /// clock (the core reads none): `performance.now()` in the browser, an `Instant` natively.
    /// For profiling only; [`Model::run`] is the way to run a model.
    pub fn profile(
        &self,
        input: Vec<f32>,
        now: &mut dyn FnMut() -> f64,
    ) -> Result<Vec<(String, f64)>> {
        let mut totals: std::collections::HashMap<String, f64> = Default::default();
        match &self.runner {
            Runner::Engine(engine) => {
                let mut last = now();
                engine
                    .run_with(&input, &mut |op, _| {
                        let t = now();
                        *totals.entry(op.to_string()).or_default() += t - last;
                        last = t;
                    })
                    .map_err(|e| self.inference_error(e))?;
            }
            #[cfg(not(target_arch = "wasm32"))]
            Runner::Tract(plan) => {
                use tract_nnef::tract_core::ops::OpState;
                use tract_nnef::tract_core::plan::{eval, EvalContext};
                let err = |e: TractError| self.inference_error(e);
                let tensor = Tensor::from_shape(&self.kind.input_shape(), &input).map_err(err)?;
                let mut state = plan.spawn().map_err(err)?;
                state
                    .run_plan_with_eval(
                        tvec!(tensor.into()),
                        |ctx: &EvalContext,
                         op_state: Option<&mut (dyn OpState + 'static)>,
                         node: &TypedNode,
                         inputs: TVec<TValue>|
                         -> TractResult<TVec<TValue>> {
                            let t = now();
                            let out = eval(ctx, op_state, node, inputs);
                            *totals.entry(node.op.name().to_string()).or_default() += now() - t;
                            out
                        },
                    )
                    .map_err(err)?;
            }
        }
        let mut v: Vec<_> = totals.into_iter().collect();
        v.sort_by(|a, b| b.1.total_cmp(&a.1));
        Ok(v)
    }

    fn inference_error(&self, e: impl std::fmt::Display) -> Error {
        Error::new(ErrorCode::Inference, format!("{}: {e}", self.kind.name()))
    }

    pub fn kind(&self) -> ModelKind {
        self.kind
    }

    /// Runs the model on one NHWC input and returns every output flattened, in graph order.
    pub fn run(&self, input: Vec<f32>) -> Result<Vec<Vec<f32>>> {
        match &self.runner {
            Runner::Engine(engine) => engine.run(&input).map_err(|e| self.inference_error(e)),
            #[cfg(not(target_arch = "wasm32"))]
            Runner::Tract(plan) => {
                let err = |e: TractError| self.inference_error(e);
                let tensor = Tensor::from_shape(&self.kind.input_shape(), &input).map_err(err)?;
                let outputs = plan.run(tvec!(tensor.into())).map_err(err)?;
                outputs
                    .iter()
                    .map(|t| {
                        Ok(t.to_plain_array_view::<f32>()
                            .map_err(err)?
                            .iter()
                            .copied()
                            .collect())
                    })
                    .collect()
            }
        }
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    /// The pinned sizes and hashes are those of the committed files (the page's progress bar
    /// totals the sizes; a model updated without them would be refused on load).
    #[test]
    fn pinned_sizes_and_hashes_match_the_model_files() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
        for kind in ModelKind::PRECHECKS
            .iter()
            .chain([&ModelKind::FaceDescriptor])
        {
            for format in [ModelFormat::Onnx, ModelFormat::Nnef] {
                let Some(file) = kind.file(format) else {
                    continue;
                };
                let bytes = std::fs::read(dir.join(file.name)).unwrap();
                assert_eq!(bytes.len() as u64, file.byte_len, "{}", file.name);
                assert_eq!(sha256_hex(&bytes), file.sha256, "{}", file.name);
            }
        }
    }
}
