//! The NNEF operators liveform's models are written with, and nothing else.
//!
//! tract finds operators at run time through registries, so everything registered stays in
//! the binary: its full NNEF framework (`tract_nnef::nnef()`) registers ~150 operators (FFT,
//! recurrent cells, quantised kernels, trigonometry, …) and their writers. Reading the
//! precheck models needs 18 of them. This framework registers those only, so the linker can
//! drop the rest from the browser's wasm. The writer (`onnx_to_nnef`, native) keeps tract's
//! full framework; a model converted with an operator missing here would fail to load
//! (`model_invalid`), which tests/nnef.rs would show: it loads every committed model
//! through this set and compares the outputs with the ONNX model's.
//!
//! The loaders registered here are tract-nnef's own where it exports them (its standard
//! library); the three `tract_core_*` ones are written here against tract-core's operators,
//! as tract-nnef keeps its loaders for them private.

use tract_nnef::framework::Nnef;
use tract_nnef::internal::*;
use tract_nnef::ops::nnef::deser;
use tract_nnef::tract_core::ops;

/// The reader-only framework: standard-library fragments, the used primitives, no resource
/// loaders (archives are read by `super::read_nnef_proto`).
pub fn reader_framework() -> Nnef {
    Nnef {
        stdlib: tract_nnef::framework::stdlib(),
        registries: vec![standard_library(), tract_core_subset()],
        resource_loaders: vec![],
        allow_extended_identifier_syntax: false,
        extern_all_constants: false,
    }
}

/// The standard-library primitives the models use, with tract-nnef's loaders.
const PRIMITIVES: [(&str, ToTract); 13] = [
    ("external", deser::external),
    ("variable", deser::variable),
    ("reshape", deser::reshape),
    ("transpose", deser::transpose),
    ("concat", deser::concat),
    ("slice", deser::slice),
    ("squeeze", deser::squeeze),
    ("unsqueeze", deser::unsqueeze),
    ("pad", deser::pad),
    ("matmul", deser::matmul),
    ("conv", deser::conv),
    ("softmax", deser::softmax),
    ("box", deser::sum_pool),
];

/// tract's `tract_nnef` registry cut down to the standard-library operators the models use.
fn standard_library() -> Registry {
    let mut registry = Registry::new("tract_nnef");
    let mut stdlib = tract_nnef::framework::stdlib();
    for (id, load) in PRIMITIVES {
        // Every one of these is declared in tract's standard library (a unit test checks).
        if let Some(pos) = stdlib.iter().position(|f| f.decl.id.0 == id) {
            let decl = stdlib.remove(pos).decl;
            registry.register_primitive(id, &decl.parameters, &decl.results, load);
        }
    }
    registry.register_binary("add", &ops::math::Add {});
    registry.register_binary("mul", &ops::math::Mul {});
    registry.register_binary("min", &ops::math::Min {});
    registry.register_binary("max", &ops::math::Max {});
    registry.register_unit_element_wise("sigmoid", &ops::nn::Sigmoid {});
    // The standard library's composite operators (`relu`, `clamp`, …), defined in NNEF.
    for fragment in stdlib {
        if fragment.body.is_some() {
            registry.register_fragment(fragment);
        }
    }
    registry
}

/// The three `tract_core` operators the models use (the 2×2 max pool's strided copies, the
/// palm detector's resize, and the cast in the properties fragment tract writes).
fn tract_core_subset() -> Registry {
    let mut registry = Registry::new("tract_core");
    let scalar = || TypeName::Scalar.tensor();
    registry.register_primitive(
        "tract_core_downsample",
        &[
            scalar().named("input"),
            TypeName::Integer.named("axis"),
            TypeName::Integer.named("stride"),
            TypeName::Integer.named("modulo").default(0),
        ],
        &[("output", scalar())],
        load_downsample,
    );
    registry.register_primitive(
        "tract_core_resize",
        &[
            scalar().named("input"),
            scalar().named("scales").default(false),
            scalar().named("sizes").default(false),
            TypeName::String
                .named("coord_transformer")
                .default("half_pixel"),
            TypeName::String.named("interpolator").default("nearest"),
            TypeName::String.named("nearest_mode").default("floor"),
        ],
        &[("output", scalar())],
        load_resize,
    );
    registry.register_primitive(
        "tract_core_cast",
        &[scalar().named("input"), TypeName::String.named("to")],
        &[("output", scalar())],
        load_cast,
    );
    registry
}

fn load_downsample(b: &mut ModelBuilder, inv: &ResolvedInvocation) -> TractResult<Value> {
    let input: OutletId = inv.named_arg_as(b, "input")?;
    let axis: usize = inv.named_arg_as(b, "axis")?;
    let stride: i64 = inv.named_arg_as(b, "stride")?;
    let modulo: usize = inv.named_arg_as(b, "modulo")?;
    let op = ops::Downsample {
        axis,
        stride: stride as isize,
        modulo,
    };
    b.wire(op, &[input])
}

fn load_resize(b: &mut ModelBuilder, inv: &ResolvedInvocation) -> TractResult<Value> {
    use ops::nn::resize::{CoordTransformer, Interpolator, Nearest, Resize};
    let input: OutletId = inv.named_arg_as(b, "input")?;
    let scales = inv.optional_named_arg_as::<OutletId>(b, "scales")?;
    let sizes = inv.optional_named_arg_as::<OutletId>(b, "sizes")?;
    // The second input is the scales or the sizes, whichever is given.
    let (aux, optional_scales_input, optional_sizes_input) = match (scales, sizes) {
        (Some(scales), None) => (scales, Some(1), None),
        (None, Some(sizes)) => (sizes, None, Some(1)),
        _ => bail!("tract_core_resize needs exactly one of scales and sizes"),
    };
    let op = Resize {
        coord_transformer: CoordTransformer::parse(
            &inv.named_arg_as::<String>(b, "coord_transformer")?,
        )?,
        interpolator: Interpolator::parse(&inv.named_arg_as::<String>(b, "interpolator")?)?,
        nearest: Nearest::parse(&inv.named_arg_as::<String>(b, "nearest_mode")?)?,
        optional_scales_input,
        optional_sizes_input,
    };
    b.wire(op, &[input, aux])
}

fn load_cast(b: &mut ModelBuilder, inv: &ResolvedInvocation) -> TractResult<Value> {
    let input: OutletId = inv.named_arg_as(b, "input")?;
    let to: DatumType = inv.named_arg_as::<String>(b, "to")?.parse()?;
    b.wire(ops::cast::Cast { to }, &[input])
}

#[cfg(test)]
mod tests {
    /// Every primitive taken from the standard library is declared there.
    #[test]
    fn standard_library_declares_every_primitive_used() {
        let registry = super::standard_library();
        for (id, _) in super::PRIMITIVES {
            assert!(
                registry
                    .primitives
                    .contains_key(&tract_nnef::ast::Identifier(id.into())),
                "{id}"
            );
        }
    }
}
