//! Models are data: loaded at run time from bytes (a file natively, a fetch in the browser),
//! verified against the sha256 written here, parsed and optimised once.
//!
//! `models/MODELS.md` gives each file's provenance, license and tensor layout.

use crate::error::{Error, ErrorCode, Result};
use sha2::{Digest, Sha256};
use tract_nnef::prelude::*;

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

type Plan = TypedRunnableModel;

/// tract's ONNX reader, with PReLU read as `x + (slope − 1)·min(x, 0)`.
///
/// tract's own PReLU is a comparison, a multiplication and a select over the whole tensor;
/// the select and the boolean tensor between them cost 25 % of the face mesh's time
/// (BENCHMARKS.md, "What the profile shows"). min, mul and add are element-wise operators
/// tract fuses into one pass. For x ≥ 0 the result is x exactly; for x < 0 it is slope·x
/// within a rounding step.
///
/// And a 2×2 stride-2 max pool as two passes of "max of neighbours": tract runs that pool
/// one scalar at a time (its vectorised 2×2 path is for stride 1), 28 % of the anti-spoof
/// model's time.
#[cfg(feature = "onnx")]
fn onnx_framework() -> tract_onnx::Onnx {
    use tract_onnx::tract_hir::ops::expandable::expand;
    let mut onnx = tract_onnx::onnx();
    onnx.op_register
        .insert("PRelu", |_, _| Ok((expand(PreluByMin), vec![])));
    if let Some(stock) = onnx.op_register.0.get("MaxPool").copied() {
        let _ = STOCK_MAX_POOL.set(stock);
        onnx.op_register.insert("MaxPool", max_pool_2x2_or_stock);
    }
    onnx
}

#[cfg(feature = "onnx")]
type OnnxOpBuilder = fn(
    &tract_onnx::model::ParsingContext,
    &tract_onnx::pb::NodeProto,
) -> TractResult<(
    Box<dyn tract_onnx::tract_hir::infer::InferenceOp>,
    Vec<String>,
)>;

/// tract's own MaxPool reader, for every pool but the plain 2×2 stride-2 one.
#[cfg(feature = "onnx")]
static STOCK_MAX_POOL: std::sync::OnceLock<OnnxOpBuilder> = std::sync::OnceLock::new();

#[cfg(feature = "onnx")]
fn max_pool_2x2_or_stock(
    ctx: &tract_onnx::model::ParsingContext,
    node: &tract_onnx::pb::NodeProto,
) -> TractResult<(
    Box<dyn tract_onnx::tract_hir::infer::InferenceOp>,
    Vec<String>,
)> {
    use tract_onnx::tract_hir::ops::cnn::{HirMaxPool, PaddingSpec, PoolSpec};
    let attr = |name: &str| node.attribute.iter().find(|a| a.name == name);
    let ints_are = |name: &str, want: &[i64], absent_ok: bool| {
        attr(name).map_or(absent_ok, |a| a.ints == want)
    };
    let plain = node.output.len() == 1
        && ints_are("kernel_shape", &[2, 2], false)
        && ints_are("strides", &[2, 2], false)
        && ints_are("pads", &[0, 0, 0, 0], true)
        && ints_are("dilations", &[1, 1], true)
        && attr("ceil_mode").is_none_or(|a| a.i == 0)
        && attr("auto_pad").is_none_or(|a| a.s == b"NOTSET" || a.s == b"VALID");
    if plain {
        let pool_spec = PoolSpec {
            data_format: tract_nnef::tract_core::ops::nn::DataFormat::NCHW,
            kernel_shape: tvec![2, 2],
            padding: PaddingSpec::Valid,
            dilations: None,
            strides: Some(tvec![2, 2]),
            input_channels: 0,
            output_channels: 0,
        };
        let pool = HirMaxPool::new(pool_spec, None);
        return Ok((
            tract_onnx::tract_hir::ops::expandable::expand(MaxPool2x2 { pool }),
            vec![],
        ));
    }
    let stock = STOCK_MAX_POOL
        .get()
        .ok_or_else(|| TractError::msg("tract's MaxPool reader is not registered"))?;
    stock(ctx, node)
}

/// A 2×2 stride-2 max pool over N×C×H×W as the max of the even and odd columns, then of the
/// even and odd rows (each a strided copy and an element-wise max); see [`onnx_framework`].
/// Shapes that are not known at load time go to tract's pool.
#[cfg(feature = "onnx")]
#[derive(Debug, Clone, Hash)]
struct MaxPool2x2 {
    pool: tract_onnx::tract_hir::ops::cnn::HirMaxPool,
}

#[cfg(feature = "onnx")]
impl tract_onnx::tract_hir::ops::expandable::Expansion for MaxPool2x2 {
    fn name(&self) -> tract_nnef::tract_core::internal::StaticName {
        "MaxPool2x2".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut tract_onnx::tract_hir::infer::Solver<'r>,
        inputs: &'p [tract_onnx::tract_hir::infer::TensorProxy],
        outputs: &'p [tract_onnx::tract_hir::infer::TensorProxy],
    ) -> tract_onnx::tract_hir::infer::InferenceResult {
        self.pool.rules(s, inputs, outputs)
    }

    fn wire(
        &self,
        name: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        use tract_nnef::tract_core::ops::{array::Slice, math, Downsample};
        let shape = model
            .outlet_fact(inputs[0])?
            .shape
            .as_concrete()
            .map(|s| s.to_vec());
        let Some(shape) = shape.filter(|s| s.len() == 4 && s[2] >= 2 && s[3] >= 2) else {
            return self.pool.wire(name, model, inputs);
        };
        let mut x = inputs[0];
        for axis in [3, 2] {
            // A valid pool drops an odd last row or column.
            let even = shape[axis] / 2 * 2;
            if even != shape[axis] {
                let slice = Slice {
                    axis,
                    start: 0.into(),
                    end: even.into(),
                };
                x = model.wire_node(format!("{name}.crop-{axis}"), slice, &[x])?[0];
            }
            let pick = |modulo| Downsample {
                axis,
                stride: 2,
                modulo,
            };
            let even_ones = model.wire_node(format!("{name}.even-{axis}"), pick(0), &[x])?[0];
            let odd_ones = model.wire_node(format!("{name}.odd-{axis}"), pick(1), &[x])?[0];
            x = model.wire_node(
                format!("{name}.max-{axis}"),
                math::max(),
                &[even_ones, odd_ones],
            )?[0];
        }
        Ok(tvec![x])
    }
}

/// PReLU as min, mul and add; see [`onnx_framework`].
#[cfg(feature = "onnx")]
#[derive(Debug, Clone, Hash)]
struct PreluByMin;

#[cfg(feature = "onnx")]
impl tract_onnx::tract_hir::ops::expandable::Expansion for PreluByMin {
    fn name(&self) -> tract_nnef::tract_core::internal::StaticName {
        "PreluByMin".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut tract_onnx::tract_hir::infer::Solver<'r>,
        inputs: &'p [tract_onnx::tract_hir::infer::TensorProxy],
        outputs: &'p [tract_onnx::tract_hir::infer::TensorProxy],
    ) -> tract_onnx::tract_hir::infer::InferenceResult {
        use tract_onnx::tract_hir::internal::*;
        check_input_arity(inputs, 2)?;
        check_output_arity(outputs, 1)?;
        s.equals(&inputs[0].datum_type, &outputs[0].datum_type)?;
        s.equals(&inputs[0].shape, &outputs[0].shape)?;
        Ok(())
    }

    fn wire(
        &self,
        name: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        use tract_nnef::tract_core::ops::{change_axes::AxisOp, math};
        let x = inputs[0];
        let mut slope = inputs[1];
        let fact = model.outlet_fact(x)?.clone();
        let rank = fact.rank();
        // ONNX broadcasts the slope from the right (a [C,1,1] slope over N×C×H×W).
        while model.outlet_fact(slope)?.rank() < rank {
            let r = model.outlet_fact(slope)?.rank();
            slope = model.wire_node(format!("{name}.add-axis-{r}"), AxisOp::Add(0), &[slope])?[0];
        }
        let scalar = |v: f32| -> TractResult<Tensor> {
            tensor0(v)
                .cast_to_dt(fact.datum_type)?
                .into_owned()
                .broadcast_into_rank(rank)
        };
        let zero = model.add_const(format!("{name}.zero"), scalar(0.0)?)?;
        let one = model.add_const(format!("{name}.one"), scalar(1.0)?)?;
        let slope_minus_one =
            model.wire_node(format!("{name}.slope-1"), math::sub(), &[slope, one])?[0];
        let negative = model.wire_node(format!("{name}.min"), math::min(), &[x, zero])?[0];
        let scaled = model.wire_node(
            format!("{name}.mul"),
            math::mul(),
            &[negative, slope_minus_one],
        )?[0];
        model.wire_node(format!("{name}.add"), math::add(), &[x, scaled])
    }
}

/// tract's NNEF reader/writer with its core operators and the ONNX-specific ones.
fn nnef_framework() -> tract_nnef::framework::Nnef {
    use tract_onnx_opl::WithOnnx;
    tract_nnef::nnef().with_onnx()
}

/// Converts a verified ONNX model to NNEF (a tar archive): typed and decluttered for the
/// model's fixed input shape, written deterministically (same bytes for the same input).
/// Run offline (natively); [`Model::load_nnef`] loads the result.
#[cfg(all(feature = "onnx", not(target_arch = "wasm32")))]
pub fn onnx_to_nnef(kind: ModelKind, onnx: &[u8]) -> Result<Vec<u8>> {
    check_sha256(kind.file_name(), onnx, kind.sha256())?;
    let invalid = |e: TractError| {
        Error::new(
            ErrorCode::ModelInvalid,
            format!("{} to NNEF: {e}", kind.file_name()),
        )
    };
    use tract_onnx::prelude::InferenceModelExt;
    let typed = onnx_framework()
        .model_for_read(&mut std::io::Cursor::new(onnx))
        .map_err(invalid)?
        .with_input_fact(0, f32::fact(kind.input_shape()).into())
        .map_err(invalid)?
        .into_typed()
        .map_err(invalid)?
        .into_decluttered()
        .map_err(invalid)?;
    nnef_framework()
        .write_to_tar_with_config(&typed, Vec::new(), false, true)
        .map_err(invalid)
}

/// A verified, optimised model ready to run.
pub struct Model {
    kind: ModelKind,
    plan: std::sync::Arc<Plan>,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model").field("kind", &self.kind).finish()
    }
}

impl Model {
    /// Verifies `bytes` against the expected sha256 of `kind`, then parses and optimises.
    pub fn load(kind: ModelKind, bytes: &[u8]) -> Result<Model> {
        check_sha256(kind.file_name(), bytes, kind.sha256())?;
        let invalid = |e: TractError| {
            Error::new(
                ErrorCode::ModelInvalid,
                format!("{}: {e}", kind.file_name()),
            )
        };
        #[cfg(feature = "onnx")]
        {
            use tract_onnx::prelude::InferenceModelExt;
            let plan = onnx_framework()
                .model_for_read(&mut std::io::Cursor::new(bytes))
                .map_err(invalid)?
                .with_input_fact(0, f32::fact(kind.input_shape()).into())
                .map_err(invalid)?
                .into_optimized()
                .map_err(invalid)?
                .into_runnable()
                .map_err(invalid)?;
            Ok(Model { kind, plan })
        }
        #[cfg(not(feature = "onnx"))]
        Err(invalid(TractError::msg(
            "this build has no ONNX loader (feature \"onnx\"): load the NNEF form",
        )))
    }

    /// Loads a model from the NNEF form made by [`onnx_to_nnef`]: it is already typed and
    /// decluttered for the fixed input shape, so only tract's code generation runs (no ONNX
    /// parsing, type analysis or decluttering).
    ///
    /// Measured as a cold-start lever (BENCHMARKS.md); the SDK still loads the verified ONNX
    /// files. `expected_sha256` is the pinned hash of the NNEF file, checked like
    /// [`Model::load`]'s.
    pub fn load_nnef(kind: ModelKind, bytes: &[u8], expected_sha256: &str) -> Result<Model> {
        check_sha256(&format!("{} (NNEF)", kind.name()), bytes, expected_sha256)?;
        let invalid = |e: TractError| {
            Error::new(
                ErrorCode::ModelInvalid,
                format!("{} (NNEF): {e}", kind.name()),
            )
        };
        let mut model = nnef_framework()
            .model_for_read(&mut std::io::Cursor::new(bytes))
            .map_err(invalid)?;
        model.optimize().map_err(invalid)?;
        let plan = model.into_runnable().map_err(invalid)?;
        Ok(Model { kind, plan })
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
        use tract_nnef::tract_core::ops::OpState;
        use tract_nnef::tract_core::plan::{eval, EvalContext};
        let err =
            |e: TractError| Error::new(ErrorCode::Inference, format!("{}: {e}", self.kind.name()));
        let tensor = Tensor::from_shape(&self.kind.input_shape(), &input).map_err(err)?;
        let mut totals: std::collections::HashMap<String, f64> = Default::default();
        let mut state = self.plan.spawn().map_err(err)?;
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
        let mut v: Vec<_> = totals.into_iter().collect();
        v.sort_by(|a, b| b.1.total_cmp(&a.1));
        Ok(v)
    }

    pub fn kind(&self) -> ModelKind {
        self.kind
    }

    /// Runs the model on one NHWC input and returns every output flattened, in graph order.
    pub fn run(&self, input: Vec<f32>) -> Result<Vec<Vec<f32>>> {
        let shape = self.kind.input_shape();
        let err =
            |e: TractError| Error::new(ErrorCode::Inference, format!("{}: {e}", self.kind.name()));
        let tensor = Tensor::from_shape(&shape, &input).map_err(err)?;
        let outputs = self.plan.run(tvec!(tensor.into())).map_err(err)?;
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
            let bytes = std::fs::read(dir.join(kind.file_name())).unwrap();
            assert_eq!(bytes.len() as u64, kind.byte_len(), "{}", kind.file_name());
            assert_eq!(sha256_hex(&bytes), kind.sha256(), "{}", kind.file_name());
        }
    }
}
