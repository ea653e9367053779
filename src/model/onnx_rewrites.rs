//! ONNX operators that tract runs slowly, read as equivalent graphs it runs fast. Used by
//! [`super::Model::load`] and [`super::onnx_to_nnef`]; tests/rewrites.rs checks the outputs
//! against tract's own operators.

use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;
use tract_onnx::tract_hir::ops::cnn::{HirMaxPool, PaddingSpec, PoolSpec};
use tract_onnx::tract_hir::ops::nn::DataFormat;
use tract_onnx::tract_hir::tract_core::ops::{array::Slice, change_axes::AxisOp, math, Downsample};

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
pub(super) fn onnx_framework() -> tract_onnx::Onnx {
    let mut onnx = tract_onnx::onnx();
    onnx.op_register
        .insert("PRelu", |_, _| Ok((expand(PreluByMin), vec![])));
    if let Some(stock) = onnx.op_register.0.get("MaxPool").copied() {
        let _ = STOCK_MAX_POOL.set(stock);
        onnx.op_register.insert("MaxPool", max_pool_2x2_or_stock);
    }
    onnx
}

type OnnxOpBuilder =
    fn(&ParsingContext, &NodeProto) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)>;

/// tract's own MaxPool reader, for every pool but the plain 2×2 stride-2 one.
static STOCK_MAX_POOL: std::sync::OnceLock<OnnxOpBuilder> = std::sync::OnceLock::new();

fn max_pool_2x2_or_stock(
    ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
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
            data_format: DataFormat::NCHW,
            kernel_shape: tvec![2, 2],
            padding: PaddingSpec::Valid,
            dilations: None,
            strides: Some(tvec![2, 2]),
            input_channels: 0,
            output_channels: 0,
        };
        let pool = HirMaxPool::new(pool_spec, None);
        return Ok((expand(MaxPool2x2 { pool }), vec![]));
    }
    let stock = STOCK_MAX_POOL
        .get()
        .ok_or_else(|| TractError::msg("tract's MaxPool reader is not registered"))?;
    stock(ctx, node)
}

/// A 2×2 stride-2 max pool over N×C×H×W as the max of the even and odd columns, then of the
/// even and odd rows (each a strided copy and an element-wise max); see [`onnx_framework`].
/// Shapes that are not known at load time go to tract's pool.
#[derive(Debug, Clone, Hash)]
struct MaxPool2x2 {
    pool: HirMaxPool,
}

impl Expansion for MaxPool2x2 {
    fn name(&self) -> StaticName {
        "MaxPool2x2".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        self.pool.rules(s, inputs, outputs)
    }

    fn wire(
        &self,
        name: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
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
#[derive(Debug, Clone, Hash)]
struct PreluByMin;

impl Expansion for PreluByMin {
    fn name(&self) -> StaticName {
        "PreluByMin".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
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
