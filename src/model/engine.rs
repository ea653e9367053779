//! liveform's own inference engine: runs the precheck models' NNEF form (what
//! [`super::onnx_to_nnef`] writes — typed, decluttered, fixed shapes) without tract's
//! optimiser.
//!
//! Why it exists (BENCHMARKS.md, "7 Dec 2026, night"): in the browser tract cost three
//! things the prechecks cannot afford — its code (2.1 MB gzip, most of it the optimiser and
//! the operator implementations it reaches), the first load of a model (V8 compiling, on
//! first use, every optimiser pass and operator the load touches: ~1 s of a cold start),
//! and per model 1.1–2× onnxruntime-web's time. The models need 18 operators on fixed
//! shapes; this engine resolves every shape once at load, folds constants, fuses what the
//! models write as chains (bias and clamp into the product before them, PReLU, a max
//! pool's strided halves, slices of slices), packs the weights once and plans the buffers,
//! so a run is a flat list of kernel calls over reused memory.
//!
//! Natively the backend still runs the ONNX files through tract (the reference): tests
//! compare this engine with tract on every model (tests/nnef.rs) and on random graphs
//! (tests/engine.rs); the `nnef_engine` fuzz target feeds it arbitrary graphs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::nnef_ast::{Document, LValue, Literal, RValue};

mod kernels;
mod simd;
use kernels::{BinOp, Broadcast, Epilogue, Window};

/// Why a graph could not be built or run.
pub type EngineError = String;
type R<T> = std::result::Result<T, EngineError>;

/// A model ready to run: its steps in order, the values they read and write, and the
/// buffers they reuse from run to run.
pub struct Engine {
    values: Vec<Value>,
    steps: Vec<Step>,
    input: usize,
    outputs: Vec<usize>,
    /// Per value: where its data lives at run time.
    places: Vec<Place>,
    /// Capacity of each reusable buffer.
    slot_sizes: Vec<usize>,
    scratch: Mutex<Scratch>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("steps", &self.steps.len())
            .field("buffers", &self.slot_sizes.len())
            .finish()
    }
}

#[derive(Default)]
struct Scratch {
    /// The values' buffers (`Engine::slot_sizes`).
    slots: Vec<Vec<f32>>,
    /// A left operand packed for a product.
    pack: Vec<f32>,
    /// im2col columns, a padded plane, a resize's intermediate axis.
    cols: Vec<f32>,
}

#[derive(Debug, Clone)]
struct Value {
    shape: Vec<usize>,
    source: Source,
}

impl Value {
    fn len(&self) -> usize {
        self.shape.iter().product()
    }
}

#[derive(Debug, Clone)]
enum Source {
    Const(Arc<Vec<f32>>),
    Input,
    Step,
    /// Same data, another shape (reshape, squeeze, unsqueeze).
    Alias(usize),
    /// Folded into its producer's epilogue: never computed, never read.
    Fused,
}

#[derive(Debug, Clone)]
enum Place {
    Const(Arc<Vec<f32>>),
    Slot(usize),
    /// A value no step reads (fused away or dead).
    Nowhere,
}

#[derive(Debug, Clone)]
struct Step {
    op: Op,
    inputs: Vec<usize>,
    output: usize,
}

#[derive(Debug, Clone)]
enum Op {
    MatMul(MatMul),
    Conv(Conv),
    Depthwise(Depthwise),
    /// An element-wise operation, then a clamp (`[-∞, ∞]` when none was fused).
    Binary(BinOp, Broadcast, [f32; 2]),
    /// `x + k[c] · min(x, 0)`: PReLU as the models write it (slope − 1 per channel `c`).
    Prelu {
        outer: usize,
        inner: usize,
        k: Vec<f32>,
    },
    /// `max(gather₀(x), gather₁(x))`: a max pool's halves, never materialised.
    PairMax(GatherMap, GatherMap),
    Sigmoid,
    Softmax {
        outer: usize,
        len: usize,
        inner: usize,
    },
    /// A strided gather of the whole output (transpose, slice, downsample).
    Gather(GatherMap),
    /// Inputs laid side by side along an axis: `outer` blocks of each input's `inner` run.
    Concat {
        outer: usize,
        runs: Vec<usize>,
    },
    Pad {
        value: f32,
        offset: usize,
        strides: Vec<usize>,
        in_shape: Vec<usize>,
    },
    /// Linear resize, axis by axis.
    Resize(Vec<ResizeAxis>),
    /// Average over non-overlapping `kh × kw` windows of the last two axes.
    AvgPool {
        planes: usize,
        h: usize,
        w: usize,
        kh: usize,
        kw: usize,
    },
}

impl Op {
    fn name(&self) -> &'static str {
        match self {
            Op::MatMul(_) => "MatMul",
            Op::Conv(_) => "Conv",
            Op::Depthwise(_) => "DepthwiseConv",
            Op::Binary(BinOp::Add, ..) => "Add",
            Op::Binary(BinOp::Mul, ..) => "Mul",
            Op::Binary(BinOp::Min, ..) => "Min",
            Op::Binary(BinOp::Max, ..) => "Max",
            Op::Prelu { .. } => "Prelu",
            Op::PairMax(..) => "MaxPool",
            Op::Sigmoid => "Sigmoid",
            Op::Softmax { .. } => "Softmax",
            Op::Gather(_) => "Gather",
            Op::Concat { .. } => "Concat",
            Op::Pad { .. } => "Pad",
            Op::Resize(_) => "Resize",
            Op::AvgPool { .. } => "AvgPool",
        }
    }
}

/// Which source element each output element of a gather reads: per output axis, the
/// source axis, the first index and the step (a transpose permutes, a slice begins and
/// steps). Two gathers in a row compose into one ([`GatherMap::then`]).
#[derive(Debug, Clone, PartialEq, Eq)]
struct GatherMap {
    src_shape: Vec<usize>,
    /// Per output axis: (source axis, begin, step).
    axes: Vec<(usize, usize, usize)>,
    shape: Vec<usize>,
}

impl GatherMap {
    fn identity(src_shape: &[usize]) -> GatherMap {
        GatherMap {
            src_shape: src_shape.to_vec(),
            axes: (0..src_shape.len()).map(|a| (a, 0, 1)).collect(),
            shape: src_shape.to_vec(),
        }
    }

    /// The source offset of output element 0 and the source stride of each output axis.
    fn offset_and_strides(&self) -> (usize, Vec<usize>) {
        let st = kernels::strides_of(&self.src_shape);
        let offset = self.axes.iter().map(|&(a, b, _)| b * st[a]).sum();
        (
            offset,
            self.axes.iter().map(|&(a, _, s)| st[a] * s).collect(),
        )
    }

    /// This gather, then `next` (which reads this one's output): one gather of the source.
    fn then(&self, next: &GatherMap) -> GatherMap {
        GatherMap {
            src_shape: self.src_shape.clone(),
            axes: next
                .axes
                .iter()
                .map(|&(a, b, s)| {
                    let (src, b1, s1) = self.axes[a];
                    (src, b1 + b * s1, s1 * s)
                })
                .collect(),
            shape: next.shape.clone(),
        }
    }
}

/// One axis of a resize: the tensor seen as `[outer, len_in, inner]`, and per output index
/// the two input indices it blends and the second one's weight.
type ResizeAxis = (usize, usize, usize, Vec<(usize, usize, f32)>);

/// The bias and clamp fused after a product.
#[derive(Debug, Clone)]
struct Fused {
    bias: Option<Vec<f32>>,
    lo: f32,
    hi: f32,
}

impl Fused {
    fn none() -> Fused {
        Fused {
            bias: None,
            lo: f32::NEG_INFINITY,
            hi: f32::INFINITY,
        }
    }
    fn epilogue(&self) -> Epilogue<'_> {
        Epilogue {
            bias: self.bias.as_deref(),
            lo: self.lo,
            hi: self.hi,
        }
    }
}

/// `[batch…, m, k] · [batch…, k, n]`; the right operand is contiguous (`k × n` rows).
#[derive(Debug, Clone)]
struct MatMul {
    m: usize,
    k: usize,
    n: usize,
    /// Per output batch: offsets of its left operand, right operand and result.
    batches: Vec<(usize, usize, usize)>,
    /// The left operand, packed once when it is a constant (one panel set per batch).
    a_packed: Option<Vec<f32>>,
    /// The left operand's (row, column) strides when it is packed per run.
    a_strides: (usize, usize),
    fused: Fused,
}

/// A convolution with one group, as a matrix product over im2col columns (or over the
/// input itself for a 1×1 stride-1 unpadded kernel).
#[derive(Debug, Clone)]
struct Conv {
    images: usize,
    cin: usize,
    cout: usize,
    win: Window,
    weights_packed: Vec<f32>,
    direct: bool,
    fused: Fused,
}

/// One filter per channel.
#[derive(Debug, Clone)]
struct Depthwise {
    images: usize,
    channels: usize,
    win: Window,
    filters: Vec<f32>,
    fused: Fused,
}

/// A value of the NNEF text as the builder sees it.
#[derive(Debug, Clone)]
enum Arg {
    Tensor(usize),
    Num(f64),
    Str(String),
    Bool(bool),
    List(Vec<Arg>),
}

impl Engine {
    /// Builds the engine for `doc` (the archive's `graph.nnef`) with its `tensors` (each
    /// `.dat` file by label, with its shape), for an input of `input_shape`.
    pub fn build(
        doc: &Document,
        tensors: &HashMap<String, (Vec<usize>, Vec<f32>)>,
        input_shape: &[usize],
    ) -> R<Engine> {
        let mut b = Builder {
            values: vec![],
            steps: vec![],
            input: None,
            tensors,
            input_shape,
        };
        let mut env: HashMap<&str, Arg> = HashMap::new();
        for assignment in &doc.graph_def.body {
            let LValue::Identifier(id) = &assignment.left else {
                return Err("only single-identifier assignments are supported".into());
            };
            let value = match &assignment.right {
                RValue::Invocation(inv) => {
                    let mut args = Vec::with_capacity(inv.arguments.len());
                    for a in &inv.arguments {
                        args.push((a.id.as_ref().map(|i| i.0.as_str()), b.arg(&a.rvalue, &env)?));
                    }
                    b.invoke(&inv.id.0, &args)
                        .map_err(|e| format!("{} = {}(…): {e}", id.0, inv.id.0))?
                }
                other => b.arg(other, &env)?,
            };
            env.insert(&id.0, value);
        }
        let input = b.input.ok_or("the graph has no external input")?;
        let mut outputs = vec![];
        for id in &doc.graph_def.results {
            match env.get(id.0.as_str()) {
                Some(Arg::Tensor(v)) => outputs.push(*v),
                _ => return Err(format!("result {} is not a tensor", id.0)),
            }
        }
        let Builder { values, steps, .. } = b;
        let mut engine = Engine {
            values,
            steps,
            input,
            outputs,
            places: vec![],
            slot_sizes: vec![],
            scratch: Mutex::new(Scratch::default()),
        };
        engine.compose_gathers();
        engine.fuse_pair_max();
        engine.fuse_prelu();
        engine.fuse_epilogues();
        engine.drop_dead_steps();
        engine.plan_buffers();
        engine.check_places()?;
        let constants: usize = engine
            .values
            .iter()
            .map(|v| match &v.source {
                Source::Const(c) => c.len(),
                _ => 0,
            })
            .sum();
        if engine.buffer_floats().saturating_add(constants) > 2 * MAX_FLOATS {
            return Err("the model needs more memory than any precheck model may".into());
        }
        Ok(engine)
    }

    /// The shape of each output.
    pub fn output_shapes(&self) -> Vec<Vec<usize>> {
        self.outputs
            .iter()
            .map(|&v| self.values[v].shape.clone())
            .collect()
    }

    /// The floats of reusable buffers one run needs (what the first run allocates).
    pub fn buffer_floats(&self) -> usize {
        self.slot_sizes.iter().sum()
    }

    /// How many kernel calls one run makes.
    pub fn step_count(&self) -> usize {
        self.steps.len()
    }

    /// Runs on `input` (the external's shape, flattened) and returns every output, flattened.
    pub fn run(&self, input: &[f32]) -> R<Vec<Vec<f32>>> {
        self.run_with(input, &mut |_, _| {})
    }

    /// [`Engine::run`], calling `each` after each step with the step's operator name and its
    /// index (for profiling; the caller owns the clock).
    pub fn run_with(
        &self,
        input: &[f32],
        each: &mut dyn FnMut(&'static str, usize),
    ) -> R<Vec<Vec<f32>>> {
        let expected = self.values[self.input].len();
        if input.len() != expected {
            return Err(format!(
                "input has {} values, expected {expected}",
                input.len()
            ));
        }
        // A panic elsewhere while the lock was held leaves only stale scratch data.
        let mut guard = self.scratch.lock().unwrap_or_else(|p| p.into_inner());
        let scratch = &mut *guard;
        if scratch.slots.len() != self.slot_sizes.len() {
            scratch.slots = self.slot_sizes.iter().map(|&n| vec![0.0; n]).collect();
        }
        if let Place::Slot(s) = self.places[self.input] {
            scratch.slots[s][..expected].copy_from_slice(input);
        }
        for (index, step) in self.steps.iter().enumerate() {
            let Place::Slot(out_slot) = self.places[step.output] else {
                return Err("a step writes a constant".into());
            };
            let out_len = self.values[step.output].len();
            let mut out = std::mem::take(&mut scratch.slots[out_slot]);
            {
                let slots = &scratch.slots;
                let ins: Vec<&[f32]> = step
                    .inputs
                    .iter()
                    .map(|&v| {
                        let len = self.values[v].len();
                        match &self.places[v] {
                            Place::Const(data) => &data[..len],
                            Place::Slot(s) => &slots[*s][..len],
                            // `check_places` refused such a graph at build.
                            Place::Nowhere => &[],
                        }
                    })
                    .collect();
                execute(
                    &step.op,
                    &ins,
                    &mut out[..out_len],
                    &mut scratch.pack,
                    &mut scratch.cols,
                );
            }
            scratch.slots[out_slot] = out;
            each(step.op.name(), index);
        }
        Ok(self
            .outputs
            .iter()
            .map(|&v| {
                let len = self.values[v].len();
                match &self.places[v] {
                    Place::Const(data) => data[..len].to_vec(),
                    Place::Slot(s) => scratch.slots[*s][..len].to_vec(),
                    Place::Nowhere => vec![],
                }
            })
            .collect())
    }

    /// How many places read `value` (steps, aliases, the graph's outputs).
    fn use_counts(&self) -> Vec<usize> {
        let mut uses = vec![0; self.values.len()];
        for step in &self.steps {
            for &v in &step.inputs {
                uses[v] += 1;
            }
        }
        for value in &self.values {
            if let Source::Alias(of) = value.source {
                uses[of] += 1;
            }
        }
        for &v in &self.outputs {
            uses[v] += 1;
        }
        uses
    }

    /// Which step writes each value.
    fn producers(&self) -> HashMap<usize, usize> {
        self.steps
            .iter()
            .enumerate()
            .map(|(i, s)| (s.output, i))
            .collect()
    }

    /// The step writing `v`, if `v` is read by exactly one place.
    fn sole_producer(
        &self,
        v: usize,
        producers: &HashMap<usize, usize>,
        uses: &[usize],
    ) -> Option<usize> {
        producers.get(&v).copied().filter(|_| uses[v] == 1)
    }

    /// Removes the marked steps.
    fn remove_steps(&mut self, removed: &[bool]) {
        let mut keep = removed.iter().map(|r| !r);
        self.steps.retain(|_| keep.next().unwrap_or(true));
    }

    /// A gather of a gather (a slice of a downsample, …) becomes one gather.
    fn compose_gathers(&mut self) {
        let producers = self.producers();
        let uses = self.use_counts();
        let mut removed = vec![false; self.steps.len()];
        for i in 0..self.steps.len() {
            let Op::Gather(outer) = &self.steps[i].op else {
                continue;
            };
            let Some(p) = self.sole_producer(self.steps[i].inputs[0], &producers, &uses) else {
                continue;
            };
            let Op::Gather(inner) = &self.steps[p].op else {
                continue;
            };
            let map = inner.then(outer);
            let source = self.steps[p].inputs[0];
            self.values[self.steps[p].output].source = Source::Fused;
            self.steps[i] = Step {
                op: Op::Gather(map),
                inputs: vec![source],
                output: self.steps[i].output,
            };
            removed[p] = true;
        }
        self.remove_steps(&removed);
    }

    /// `max(gather₀(x), gather₁(x))` (a 2×2 max pool's halves) becomes one pass over `x`.
    fn fuse_pair_max(&mut self) {
        let producers = self.producers();
        let uses = self.use_counts();
        let mut removed = vec![false; self.steps.len()];
        for i in 0..self.steps.len() {
            let Op::Binary(BinOp::Max, ..) = self.steps[i].op else {
                continue;
            };
            let [x, y] = self.steps[i].inputs[..] else {
                continue;
            };
            let (Some(px), Some(py)) = (
                self.sole_producer(x, &producers, &uses),
                self.sole_producer(y, &producers, &uses),
            ) else {
                continue;
            };
            let (Op::Gather(gx), Op::Gather(gy)) = (&self.steps[px].op, &self.steps[py].op) else {
                continue;
            };
            let same_walk = gx.shape == gy.shape
                && gx.offset_and_strides().1 == gy.offset_and_strides().1
                && self.values[self.steps[i].output].shape == gx.shape;
            if px == py || self.steps[px].inputs != self.steps[py].inputs || !same_walk {
                continue;
            }
            let op = Op::PairMax(gx.clone(), gy.clone());
            let source = self.steps[px].inputs[0];
            for v in [x, y] {
                self.values[v].source = Source::Fused;
            }
            self.steps[i] = Step {
                op,
                inputs: vec![source],
                output: self.steps[i].output,
            };
            removed[px] = true;
            removed[py] = true;
        }
        self.remove_steps(&removed);
    }

    /// `add(x, mul(min(x, 0), k))` with `k` constant per channel (PReLU, rewritten so when
    /// the models were converted) becomes one pass.
    fn fuse_prelu(&mut self) {
        let producers = self.producers();
        let uses = self.use_counts();
        let mut removed = vec![false; self.steps.len()];
        for i in 0..self.steps.len() {
            let Op::Binary(BinOp::Add, ..) = self.steps[i].op else {
                continue;
            };
            let [a, b] = self.steps[i].inputs[..] else {
                continue;
            };
            // Either operand may be the product.
            let found = [(a, b), (b, a)].into_iter().find_map(|(x, m)| {
                let pm = self.sole_producer(m, &producers, &uses)?;
                let Op::Binary(BinOp::Mul, _, [lo, hi]) = self.steps[pm].op else {
                    return None;
                };
                if lo != f32::NEG_INFINITY || hi != f32::INFINITY {
                    return None;
                }
                let [n, k] = self.steps[pm].inputs[..] else {
                    return None;
                };
                let (n, k) = if const_of(&self.values, k).is_some() {
                    (n, k)
                } else {
                    (k, n)
                };
                let k_data = const_of(&self.values, k)?;
                let pn = self.sole_producer(n, &producers, &uses)?;
                let Op::Binary(BinOp::Min, _, [lo, hi]) = self.steps[pn].op else {
                    return None;
                };
                if lo != f32::NEG_INFINITY || hi != f32::INFINITY {
                    return None;
                }
                let [u, z] = self.steps[pn].inputs[..] else {
                    return None;
                };
                let (u, z) = if const_of(&self.values, z).is_some() {
                    (u, z)
                } else {
                    (z, u)
                };
                let zero = const_of(&self.values, z)?;
                if u != x || zero.len() != 1 || zero[0] != 0.0 {
                    return None;
                }
                // k per channel (axis 1) of x's NCHW-like shape, or one value.
                let shape = &self.values[x].shape;
                let (ks, out) = (
                    &self.values[k].shape,
                    &self.values[self.steps[i].output].shape,
                );
                if shape.len() < 2 || out != shape || ks.len() > shape.len() {
                    return None;
                }
                let off = shape.len() - ks.len();
                let channels = shape[1];
                let per_channel = ks
                    .iter()
                    .enumerate()
                    .all(|(d, &s)| s == 1 || (d + off == 1 && s == channels));
                if !per_channel {
                    return None;
                }
                let k: Vec<f32> = if k_data.len() == 1 {
                    vec![k_data[0]; channels]
                } else {
                    k_data.to_vec()
                };
                Some((x, m, n, pm, pn, k))
            });
            let Some((x, m, n, pm, pn, k)) = found else {
                continue;
            };
            let shape = self.values[x].shape.clone();
            let op = Op::Prelu {
                outer: shape[0],
                inner: shape[2..].iter().product(),
                k,
            };
            self.values[m].source = Source::Fused;
            self.values[n].source = Source::Fused;
            self.steps[i] = Step {
                op,
                inputs: vec![x],
                output: self.steps[i].output,
            };
            removed[pm] = true;
            removed[pn] = true;
        }
        self.remove_steps(&removed);
    }

    /// Folds `add(product, per-channel constant)` into a product's bias, and `max(·, c)` /
    /// `min(·, c)` with a scalar constant into the clamp of the step before (a product or an
    /// element-wise operation), when that step's result feeds nothing else.
    fn fuse_epilogues(&mut self) {
        let mut producers = self.producers();
        let mut uses = self.use_counts();
        let mut removed = vec![false; self.steps.len()];
        for i in 0..self.steps.len() {
            let Op::Binary(op, _, [lo0, hi0]) = self.steps[i].op else {
                continue;
            };
            if lo0 != f32::NEG_INFINITY || hi0 != f32::INFINITY {
                continue;
            }
            let [x, y] = self.steps[i].inputs[..] else {
                continue;
            };
            // Which operand is the product, which the constant.
            let (prod_value, konst_value) = if producers.contains_key(&x) {
                (x, y)
            } else {
                (y, x)
            };
            let Some(konst) = const_of(&self.values, konst_value) else {
                continue;
            };
            let Some(p) = self.sole_producer(prod_value, &producers, &uses) else {
                continue;
            };
            let prod_shape = self.values[prod_value].shape.clone();
            let konst_shape = self.values[konst_value].shape.clone();
            if removed[p] || self.values[self.steps[i].output].shape != prod_shape {
                continue;
            }
            let scalar = konst.len() == 1;
            // The product's bias (with its channel axis and count), and its clamp.
            let (bias, channel_axis, channels, clamp) = match &mut self.steps[p].op {
                Op::MatMul(mm) if mm.batches.len() == 1 => (
                    Some(&mut mm.fused.bias),
                    prod_shape.len() - 2,
                    mm.m,
                    [&mut mm.fused.lo, &mut mm.fused.hi],
                ),
                Op::Conv(c) if c.images == 1 => (
                    Some(&mut c.fused.bias),
                    1,
                    c.cout,
                    [&mut c.fused.lo, &mut c.fused.hi],
                ),
                Op::Depthwise(d) if d.images == 1 => (
                    Some(&mut d.fused.bias),
                    1,
                    d.channels,
                    [&mut d.fused.lo, &mut d.fused.hi],
                ),
                Op::Binary(_, _, [lo, hi]) => (None, 0, 0, [lo, hi]),
                _ => continue,
            };
            let [lo, hi] = clamp;
            match op {
                BinOp::Add if *lo == f32::NEG_INFINITY && *hi == f32::INFINITY => {
                    let Some(bias) = bias else {
                        continue;
                    };
                    // The constant must vary along the channel axis only.
                    let rank = prod_shape.len();
                    let Some(off) = rank.checked_sub(konst_shape.len()) else {
                        continue;
                    };
                    let per_channel = konst_shape
                        .iter()
                        .enumerate()
                        .all(|(d, &n)| n == 1 || d + off == channel_axis);
                    if !per_channel {
                        continue;
                    }
                    let bias = bias.get_or_insert_with(|| vec![0.0; channels]);
                    for (c, b) in bias.iter_mut().enumerate() {
                        *b += if scalar { konst[0] } else { konst[c] };
                    }
                }
                BinOp::Max if scalar => *lo = lo.max(konst[0]),
                BinOp::Min if scalar => *hi = hi.min(konst[0]),
                _ => continue,
            }
            // The product now writes the operation's output; the operation is gone, and so
            // is the product's own value (nothing else read it).
            let out = self.steps[i].output;
            self.steps[p].output = out;
            self.values[prod_value].source = Source::Fused;
            producers.remove(&prod_value);
            producers.insert(out, p);
            uses[konst_value] -= 1;
            removed[i] = true;
        }
        self.remove_steps(&removed);
    }

    /// Drops steps whose results no output needs.
    fn drop_dead_steps(&mut self) {
        let mut needed = vec![false; self.values.len()];
        let mark = |needed: &mut Vec<bool>, mut v: usize| loop {
            needed[v] = true;
            match self.values[v].source {
                Source::Alias(of) => v = of,
                _ => break,
            }
        };
        for &v in &self.outputs {
            mark(&mut needed, v);
        }
        let mut keep = vec![false; self.steps.len()];
        for (i, step) in self.steps.iter().enumerate().rev() {
            if needed[step.output] {
                keep[i] = true;
                for &v in &step.inputs {
                    mark(&mut needed, v);
                }
            }
        }
        let mut k = keep.into_iter();
        self.steps.retain(|_| k.next().unwrap_or(true));
    }

    /// Every value a step reads or writes, and every output, has data of its size.
    fn check_places(&self) -> R<()> {
        let read = self
            .steps
            .iter()
            .flat_map(|s| s.inputs.iter().chain([&s.output]));
        for &v in read.chain(&self.outputs) {
            let ok = match &self.places[v] {
                Place::Const(c) => c.len() == self.values[v].len(),
                Place::Slot(s) => self.slot_sizes[*s] >= self.values[v].len(),
                Place::Nowhere => false,
            };
            if !ok {
                return Err("internal: a value has no buffer".into());
            }
        }
        Ok(())
    }

    /// The value whose buffer `v` reads.
    fn root(&self, mut v: usize) -> usize {
        while let Source::Alias(of) = self.values[v].source {
            v = of;
        }
        v
    }

    /// Gives each runtime value a buffer, reusing a buffer once its value is no longer read.
    fn plan_buffers(&mut self) {
        const FOREVER: usize = usize::MAX;
        let n = self.values.len();
        let mut last_use = vec![0usize; n];
        for (i, step) in self.steps.iter().enumerate() {
            last_use[step.output] = last_use[step.output].max(i);
            for &v in &step.inputs {
                let r = self.root(v);
                last_use[r] = last_use[r].max(i);
            }
        }
        for &v in &self.outputs {
            last_use[self.root(v)] = FOREVER;
        }
        let mut slot_of = vec![usize::MAX; n];
        let mut sizes: Vec<usize> = vec![];
        let mut free: Vec<usize> = vec![];
        let take = |len: usize, sizes: &mut Vec<usize>, free: &mut Vec<usize>| -> usize {
            // The smallest free buffer that fits, else the largest (grown), else a new one.
            let fit = free
                .iter()
                .enumerate()
                .filter(|(_, &s)| sizes[s] >= len)
                .min_by_key(|(_, &s)| sizes[s])
                .map(|(i, _)| i);
            let pick = fit.or_else(|| {
                free.iter()
                    .enumerate()
                    .max_by_key(|(_, &s)| sizes[s])
                    .map(|(i, _)| i)
            });
            match pick {
                Some(i) => {
                    let s = free.swap_remove(i);
                    sizes[s] = sizes[s].max(len);
                    s
                }
                None => {
                    sizes.push(len);
                    sizes.len() - 1
                }
            }
        };
        slot_of[self.input] = take(self.values[self.input].len(), &mut sizes, &mut free);
        for (i, step) in self.steps.iter().enumerate() {
            let out = step.output;
            slot_of[out] = take(self.values[out].len(), &mut sizes, &mut free);
            // Free what this step read for the last time (and its own output if unread).
            let mut done: Vec<usize> = step.inputs.iter().map(|&v| self.root(v)).collect();
            done.push(out);
            done.sort_unstable();
            done.dedup();
            for r in done {
                if last_use[r] == i && slot_of[r] != usize::MAX {
                    free.push(slot_of[r]);
                }
            }
        }
        self.places = (0..n)
            .map(|v| {
                let r = self.root(v);
                match &self.values[r].source {
                    Source::Const(c) => Place::Const(c.clone()),
                    _ if slot_of[r] == usize::MAX => Place::Nowhere,
                    _ => Place::Slot(slot_of[r]),
                }
            })
            .collect();
        self.slot_sizes = sizes;
    }
}

/// Runs one step's kernel: `ins` are its inputs' data, `out` its output's.
fn execute(op: &Op, ins: &[&[f32]], out: &mut [f32], pack: &mut Vec<f32>, cols: &mut Vec<f32>) {
    match op {
        Op::MatMul(mm) => {
            for (bi, &(a_off, b_off, c_off)) in mm.batches.iter().enumerate() {
                let a_packed: &[f32] = match &mm.a_packed {
                    Some(p) => &p[bi * mm.m.div_ceil(kernels::MR) * mm.k * kernels::MR..],
                    None => {
                        kernels::pack_a(
                            &ins[0][a_off..],
                            mm.m,
                            mm.k,
                            mm.a_strides.0,
                            mm.a_strides.1,
                            pack,
                        );
                        pack
                    }
                };
                kernels::gemm(
                    mm.m,
                    mm.k,
                    mm.n,
                    a_packed,
                    &ins[1][b_off..],
                    mm.n,
                    &mut out[c_off..],
                    mm.n,
                    mm.fused.epilogue(),
                );
            }
        }
        Op::Conv(c) => {
            let (plane_in, plane_out) = (c.cin * c.win.h * c.win.w, c.cout * c.win.oh * c.win.ow);
            let cols_n = c.win.oh * c.win.ow;
            for img in 0..c.images {
                let input = &ins[0][img * plane_in..][..plane_in];
                let output = &mut out[img * plane_out..][..plane_out];
                let k = c.cin * c.win.kh * c.win.kw;
                if c.direct {
                    kernels::gemm(
                        c.cout,
                        k,
                        cols_n,
                        &c.weights_packed,
                        input,
                        cols_n,
                        output,
                        cols_n,
                        c.fused.epilogue(),
                    );
                } else {
                    // Blocks of output positions whose columns fit in ~128 KB.
                    let block = (32 * 1024 / k.max(1)).max(kernels::NR) / kernels::NR * kernels::NR;
                    for first in (0..cols_n).step_by(block) {
                        let count = block.min(cols_n - first);
                        kernels::im2col(input, c.cin, &c.win, first, count, cols);
                        let epilogue = c.fused.epilogue();
                        kernels::gemm(
                            c.cout,
                            k,
                            count,
                            &c.weights_packed,
                            cols,
                            count,
                            &mut output[first..],
                            cols_n,
                            epilogue,
                        );
                    }
                }
            }
        }
        Op::Depthwise(d) => {
            let (plane_in, plane_out) = (
                d.channels * d.win.h * d.win.w,
                d.channels * d.win.oh * d.win.ow,
            );
            for img in 0..d.images {
                kernels::depthwise(
                    &ins[0][img * plane_in..][..plane_in],
                    d.channels,
                    &d.win,
                    &d.filters,
                    d.fused.epilogue(),
                    &mut out[img * plane_out..][..plane_out],
                    cols,
                );
            }
        }
        Op::Binary(op, plan, [lo, hi]) => plan.run(*op, ins[0], ins[1], out, *lo, *hi),
        Op::Prelu { outer, inner, k } => kernels::prelu(ins[0], *outer, k, *inner, out),
        Op::PairMax(g0, g1) => {
            let ((o0, strides), (o1, _)) = (g0.offset_and_strides(), g1.offset_and_strides());
            kernels::pair_max(ins[0], o0, o1, &strides, &g0.shape, out);
        }
        Op::Sigmoid => {
            for (o, x) in out.iter_mut().zip(ins[0]) {
                *o = 1.0 / (1.0 + (-x).exp());
            }
        }
        Op::Softmax { outer, len, inner } => {
            let (outer, len, inner) = (*outer, *len, *inner);
            for o in 0..outer {
                for i in 0..inner {
                    let at = |j: usize| o * len * inner + j * inner + i;
                    let max = (0..len)
                        .map(|j| ins[0][at(j)])
                        .fold(f32::NEG_INFINITY, f32::max);
                    let mut sum = 0.0;
                    for j in 0..len {
                        let e = (ins[0][at(j)] - max).exp();
                        out[at(j)] = e;
                        sum += e;
                    }
                    for j in 0..len {
                        out[at(j)] /= sum;
                    }
                }
            }
        }
        Op::Gather(map) => {
            let (offset, strides) = map.offset_and_strides();
            kernels::copy_strided(
                ins[0],
                offset,
                &strides,
                out,
                0,
                &kernels::strides_of(&map.shape),
                &map.shape,
            );
        }
        Op::Concat { outer, runs } => {
            let total: usize = runs.iter().sum();
            let mut at = 0;
            for (input, &run) in ins.iter().zip(runs) {
                for o in 0..*outer {
                    out[o * total + at..][..run].copy_from_slice(&input[o * run..][..run]);
                }
                at += run;
            }
        }
        Op::Pad {
            value,
            offset,
            strides,
            in_shape,
        } => {
            out.fill(*value);
            kernels::copy_strided(
                ins[0],
                0,
                &kernels::strides_of(in_shape),
                out,
                *offset,
                strides,
                in_shape,
            );
        }
        Op::Resize(axes) => {
            // Axis by axis, through `cols` (the last axis writes `out`).
            let mut current: Vec<f32> = ins[0].to_vec();
            for (i, (outer, len_in, inner, taps)) in axes.iter().enumerate() {
                let len = outer * taps.len() * inner;
                if i + 1 == axes.len() {
                    kernels::resize_axis(&current, *outer, *len_in, *inner, taps, &mut out[..len]);
                } else {
                    cols.clear();
                    cols.resize(len, 0.0);
                    kernels::resize_axis(&current, *outer, *len_in, *inner, taps, cols);
                    std::mem::swap(&mut current, cols);
                }
            }
            if axes.is_empty() {
                out.copy_from_slice(&current[..out.len()]);
            }
        }
        Op::AvgPool {
            planes,
            h,
            w,
            kh,
            kw,
        } => {
            let (oh, ow) = (h / kh, w / kw);
            let scale = 1.0 / (kh * kw) as f32;
            for p in 0..*planes {
                let plane = &ins[0][p * h * w..][..h * w];
                for oy in 0..oh {
                    for ox in 0..ow {
                        let mut s = 0.0;
                        for y in 0..*kh {
                            for x in 0..*kw {
                                s += plane[(oy * kh + y) * w + ox * kw + x];
                            }
                        }
                        out[(p * oh + oy) * ow + ox] = s * scale;
                    }
                }
            }
        }
    }
}

struct Builder<'a> {
    values: Vec<Value>,
    steps: Vec<Step>,
    input: Option<usize>,
    tensors: &'a HashMap<String, (Vec<usize>, Vec<f32>)>,
    input_shape: &'a [usize],
}

/// At most this many floats in one tensor (128 MB), and in all of a model's buffers and
/// constants together: far above what the models need (the largest tensor has 1.6 M), far
/// below what would exhaust a browser tab's memory.
const MAX_FLOATS: usize = 1 << 25;

/// Total elements of a shape, refusing sizes that overflow or exceed [`MAX_FLOATS`].
fn checked_len(shape: &[usize]) -> R<usize> {
    const MAX: usize = MAX_FLOATS;
    shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .filter(|&n| n <= MAX)
        .ok_or_else(|| format!("tensor of shape {shape:?} is too large"))
}

impl Builder<'_> {
    fn add_value(&mut self, shape: Vec<usize>, source: Source) -> R<usize> {
        let len = checked_len(&shape)?;
        if let Source::Const(c) = &source {
            if c.len() != len {
                return Err(format!(
                    "constant of shape {shape:?} has {} values",
                    c.len()
                ));
            }
        }
        self.values.push(Value { shape, source });
        Ok(self.values.len() - 1)
    }

    fn konst(&mut self, shape: Vec<usize>, data: Vec<f32>) -> R<usize> {
        self.add_value(shape, Source::Const(Arc::new(data)))
    }

    fn const_data(&self, v: usize) -> Option<Arc<Vec<f32>>> {
        const_of(&self.values, v)
    }

    /// Adds a step, or evaluates it now when every input is a constant.
    fn step(&mut self, op: Op, inputs: Vec<usize>, shape: Vec<usize>) -> R<usize> {
        let consts: Option<Vec<Arc<Vec<f32>>>> =
            inputs.iter().map(|&v| self.const_data(v)).collect();
        if let Some(consts) = consts {
            let len = checked_len(&shape)?;
            let mut out = vec![0.0; len];
            let ins: Vec<&[f32]> = consts.iter().map(|c| c.as_slice()).collect();
            execute(&op, &ins, &mut out, &mut vec![], &mut vec![]);
            return self.konst(shape, out);
        }
        let output = self.add_value(shape, Source::Step)?;
        self.steps.push(Step { op, inputs, output });
        Ok(output)
    }

    fn alias(&mut self, of: usize, shape: Vec<usize>) -> R<usize> {
        if checked_len(&shape)? != self.values[of].len() {
            return Err(format!(
                "cannot view {:?} as {shape:?}",
                self.values[of].shape
            ));
        }
        self.add_value(shape, Source::Alias(of))
    }

    fn arg(&self, rv: &RValue, env: &HashMap<&str, Arg>) -> R<Arg> {
        Ok(match rv {
            RValue::Identifier(id) => env
                .get(id.0.as_str())
                .cloned()
                .ok_or_else(|| format!("unknown identifier {}", id.0))?,
            RValue::Literal(l) => literal(l)?,
            RValue::Array(items) | RValue::Tuple(items) => {
                Arg::List(items.iter().map(|i| self.arg(i, env)).collect::<R<_>>()?)
            }
            RValue::Invocation(_) => return Err("nested invocations are not supported".into()),
        })
    }

    /// The tensor an argument denotes: a value, or a constant made from a number or nested
    /// lists of numbers.
    fn tensor(&mut self, a: &Arg) -> R<usize> {
        fn flatten(a: &Arg, depth: usize, shape: &mut Vec<usize>, data: &mut Vec<f32>) -> R<()> {
            match a {
                Arg::Num(n) => {
                    if depth != shape.len() {
                        return Err("ragged literal".into());
                    }
                    data.push(*n as f32);
                }
                Arg::List(items) => {
                    if depth == shape.len() {
                        if !data.is_empty() {
                            return Err("ragged literal".into());
                        }
                        shape.push(items.len());
                    } else if shape.get(depth) != Some(&items.len()) {
                        return Err("ragged literal".into());
                    }
                    for i in items {
                        flatten(i, depth + 1, shape, data)?;
                    }
                }
                _ => return Err("expected a tensor".into()),
            }
            Ok(())
        }
        match a {
            Arg::Tensor(v) => Ok(*v),
            other => {
                let (mut shape, mut data) = (vec![], vec![]);
                flatten(other, 0, &mut shape, &mut data)?;
                self.konst(shape, data)
            }
        }
    }

    fn invoke(&mut self, op: &str, raw: &[(Option<&str>, Arg)]) -> R<Arg> {
        let params: &[&str] = match op {
            "external" => &["shape"],
            "variable" => &["shape", "label"],
            "reshape" => &["input", "shape", "axis_start", "axis_count"],
            "squeeze" | "unsqueeze" | "transpose" => &["input", "axes"],
            "concat" => &["values", "axis"],
            "slice" => &["input", "axes", "begin", "end", "stride"],
            "pad" => &["input", "padding", "border", "value"],
            "add" | "mul" | "min" | "max" => &["x", "y"],
            "sigmoid" => &["x"],
            "softmax" => &["x", "axes"],
            "matmul" => &["A", "B", "transposeA", "transposeB"],
            "conv" => &[
                "input", "filter", "bias", "border", "padding", "stride", "dilation", "groups",
            ],
            "box" => &[
                "input",
                "size",
                "border",
                "padding",
                "stride",
                "dilation",
                "normalize",
            ],
            "tract_core_downsample" => &["input", "axis", "stride", "modulo"],
            "tract_core_resize" => &[
                "input",
                "scales",
                "coord_transformer",
                "interpolator",
                "nearest_mode",
            ],
            _ => return Err(format!("operator {op} is not supported")),
        };
        let mut args: HashMap<&str, &Arg> = HashMap::new();
        for (i, (name, value)) in raw.iter().enumerate() {
            let name = match name {
                Some(n) => *n,
                None => params.get(i).copied().ok_or("too many arguments")?,
            };
            args.insert(name, value);
        }
        let get = |name: &str| {
            args.get(name)
                .copied()
                .ok_or_else(|| format!("missing argument {name}"))
        };
        let t = |b: &mut Self, name: &str| -> R<usize> { b.tensor(get(name)?) };
        let shape_of = |b: &Self, v: usize| b.values[v].shape.clone();
        match op {
            "external" => {
                let shape = usizes(get("shape")?)?;
                if shape != self.input_shape {
                    return Err(format!(
                        "input shape {shape:?}, expected {:?}",
                        self.input_shape
                    ));
                }
                if self.input.is_some() {
                    return Err("more than one external input".into());
                }
                let v = self.add_value(shape, Source::Input)?;
                self.input = Some(v);
                Ok(Arg::Tensor(v))
            }
            "variable" => {
                let shape = usizes(get("shape")?)?;
                let label = string(get("label")?)?;
                let (dims, data) = self
                    .tensors
                    .get(label)
                    .ok_or_else(|| format!("no tensor file for {label}"))?;
                if *dims != shape {
                    return Err(format!(
                        "{label}: file has shape {dims:?}, graph says {shape:?}"
                    ));
                }
                Ok(Arg::Tensor(self.konst(shape, data.clone())?))
            }
            "reshape" => {
                let x = t(self, "input")?;
                let in_shape = shape_of(self, x);
                let spec = ints(get("shape")?)?;
                let start = args
                    .get("axis_start")
                    .map(|a| int(a))
                    .transpose()?
                    .unwrap_or(0);
                let count = args
                    .get("axis_count")
                    .map(|a| int(a))
                    .transpose()?
                    .unwrap_or(-1);
                let start = usize::try_from(start).map_err(|_| "negative axis_start")?;
                let end = if count < 0 {
                    in_shape.len()
                } else {
                    usize::try_from(count)
                        .ok()
                        .and_then(|c| start.checked_add(c))
                        .ok_or("reshape axes out of range")?
                };
                if start > end || end > in_shape.len() {
                    return Err("reshape axes out of range".into());
                }
                let replaced: usize = in_shape[start..end].iter().product();
                let mut mid = Vec::with_capacity(spec.len());
                let mut infer = None;
                for (i, &d) in spec.iter().enumerate() {
                    mid.push(match d {
                        0 => *in_shape
                            .get(start + i)
                            .ok_or("reshape copies a missing axis")?,
                        -1 if infer.is_none() => {
                            infer = Some(i);
                            1
                        }
                        d if d > 0 => {
                            usize::try_from(d).map_err(|_| "reshape dimension too large")?
                        }
                        _ => return Err("bad reshape dimension".into()),
                    });
                }
                if let Some(i) = infer {
                    let known: usize = mid.iter().product();
                    if known == 0 || !replaced.is_multiple_of(known) {
                        return Err("cannot infer reshape dimension".into());
                    }
                    mid[i] = replaced / known;
                }
                let mut shape = in_shape[..start].to_vec();
                shape.extend(mid);
                shape.extend_from_slice(&in_shape[end..]);
                Ok(Arg::Tensor(self.alias(x, shape)?))
            }
            "squeeze" => {
                let x = t(self, "input")?;
                let axes = usizes(get("axes")?)?;
                let in_shape = shape_of(self, x);
                if axes.iter().any(|&a| in_shape.get(a) != Some(&1)) {
                    return Err("squeezed axis is not of size 1".into());
                }
                let shape = in_shape
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| !axes.contains(i))
                    .map(|(_, &d)| d)
                    .collect();
                Ok(Arg::Tensor(self.alias(x, shape)?))
            }
            "unsqueeze" => {
                let x = t(self, "input")?;
                let mut axes = usizes(get("axes")?)?;
                axes.sort_unstable();
                let mut shape = shape_of(self, x);
                for a in axes {
                    if a > shape.len() {
                        return Err("unsqueeze axis out of range".into());
                    }
                    shape.insert(a, 1);
                }
                Ok(Arg::Tensor(self.alias(x, shape)?))
            }
            "transpose" => {
                let x = t(self, "input")?;
                let perm = usizes(get("axes")?)?;
                let in_shape = shape_of(self, x);
                let mut seen = perm.clone();
                seen.sort_unstable();
                if seen != (0..in_shape.len()).collect::<Vec<_>>() {
                    return Err("transpose axes are not a permutation".into());
                }
                let shape: Vec<usize> = perm.iter().map(|&p| in_shape[p]).collect();
                let map = GatherMap {
                    src_shape: in_shape,
                    axes: perm.iter().map(|&p| (p, 0, 1)).collect(),
                    shape: shape.clone(),
                };
                Ok(Arg::Tensor(self.step(Op::Gather(map), vec![x], shape)?))
            }
            "slice" | "tract_core_downsample" => {
                let x = t(self, "input")?;
                let in_shape = shape_of(self, x);
                let (axes, begins, ends, steps) = if op == "slice" {
                    let axes = usizes(get("axes")?)?;
                    let n = axes.len();
                    let steps = match args.get("stride") {
                        Some(s) => ints(s)?,
                        None => vec![1; n],
                    };
                    (axes, ints(get("begin")?)?, ints(get("end")?)?, steps)
                } else {
                    let axis = usize::try_from(int(get("axis")?)?).map_err(|_| "negative axis")?;
                    let len = *in_shape.get(axis).ok_or("axis out of range")? as i64;
                    (
                        vec![axis],
                        vec![int(get("modulo")?)?],
                        vec![len],
                        vec![int(get("stride")?)?],
                    )
                };
                if begins.len() != axes.len()
                    || ends.len() != axes.len()
                    || steps.len() != axes.len()
                {
                    return Err("slice lists differ in length".into());
                }
                let mut map = GatherMap::identity(&in_shape);
                for (((&axis, &b), &e), &s) in axes.iter().zip(&begins).zip(&ends).zip(&steps) {
                    let len = *in_shape.get(axis).ok_or("axis out of range")? as i64;
                    let fix = |i: i64| if i < 0 { (i + len).max(0) } else { i.min(len) };
                    // 0 <= b < e <= len, so both fit in usize.
                    let (b, e) = (fix(b) as usize, fix(e) as usize);
                    let s = usize::try_from(s)
                        .ok()
                        .filter(|&s| s > 0)
                        .ok_or("slice step must be positive")?;
                    if b >= e {
                        return Err("empty or backward slice".into());
                    }
                    map.shape[axis] = (e - b).div_ceil(s);
                    map.axes[axis] = (axis, b, s);
                }
                let shape = map.shape.clone();
                Ok(Arg::Tensor(self.step(Op::Gather(map), vec![x], shape)?))
            }
            "concat" => {
                let Arg::List(items) = get("values")? else {
                    return Err("concat expects a list".into());
                };
                let axis = usize::try_from(int(get("axis")?)?).map_err(|_| "negative axis")?;
                let xs = items
                    .iter()
                    .map(|i| self.tensor(i))
                    .collect::<R<Vec<_>>>()?;
                let first = shape_of(self, *xs.first().ok_or("empty concat")?);
                if axis >= first.len() {
                    return Err("concat axis out of range".into());
                }
                let mut shape = first.clone();
                shape[axis] = 0;
                let mut runs = vec![];
                for &x in &xs {
                    let s = shape_of(self, x);
                    if s.len() != first.len()
                        || s.iter()
                            .zip(&first)
                            .enumerate()
                            .any(|(d, (a, b))| d != axis && a != b)
                    {
                        return Err("concat shapes differ".into());
                    }
                    shape[axis] += s[axis];
                    runs.push(s[axis..].iter().product());
                }
                let outer = first[..axis].iter().product();
                Ok(Arg::Tensor(self.step(
                    Op::Concat { outer, runs },
                    xs,
                    shape,
                )?))
            }
            "pad" => {
                let x = t(self, "input")?;
                let in_shape = shape_of(self, x);
                let pads = pairs(get("padding")?)?;
                if pads.len() != in_shape.len() {
                    return Err("padding rank differs from the input's".into());
                }
                if let Some(b) = args.get("border") {
                    if string(b)? != "constant" {
                        return Err("only constant padding is supported".into());
                    }
                }
                let value = args
                    .get("value")
                    .map(|v| num(v))
                    .transpose()?
                    .unwrap_or(0.0) as f32;
                let shape: Vec<usize> = in_shape
                    .iter()
                    .zip(&pads)
                    .map(|(d, (a, b))| d + a + b)
                    .collect();
                let strides = kernels::strides_of(&shape);
                let offset = pads.iter().zip(&strides).map(|((a, _), s)| a * s).sum();
                Ok(Arg::Tensor(self.step(
                    Op::Pad {
                        value,
                        offset,
                        strides,
                        in_shape,
                    },
                    vec![x],
                    shape,
                )?))
            }
            "add" | "mul" | "min" | "max" => {
                let (x, y) = (t(self, "x")?, t(self, "y")?);
                let bin = match op {
                    "add" => BinOp::Add,
                    "mul" => BinOp::Mul,
                    "min" => BinOp::Min,
                    _ => BinOp::Max,
                };
                let (plan, shape) = Broadcast::new(&shape_of(self, x), &shape_of(self, y))
                    .ok_or("shapes do not broadcast")?;
                let op = Op::Binary(bin, plan, [f32::NEG_INFINITY, f32::INFINITY]);
                Ok(Arg::Tensor(self.step(op, vec![x, y], shape)?))
            }
            "sigmoid" => {
                let x = t(self, "x")?;
                let shape = shape_of(self, x);
                Ok(Arg::Tensor(self.step(Op::Sigmoid, vec![x], shape)?))
            }
            "softmax" => {
                let x = t(self, "x")?;
                let shape = shape_of(self, x);
                let [axis] = usizes(get("axes")?)?[..] else {
                    return Err("softmax over several axes".into());
                };
                if axis >= shape.len() {
                    return Err("softmax axis out of range".into());
                }
                let op = Op::Softmax {
                    outer: shape[..axis].iter().product(),
                    len: shape[axis],
                    inner: shape[axis + 1..].iter().product(),
                };
                Ok(Arg::Tensor(self.step(op, vec![x], shape)?))
            }
            "matmul" => {
                let (a, b) = (t(self, "A")?, t(self, "B")?);
                let ta = args
                    .get("transposeA")
                    .map(|v| boolean(v))
                    .transpose()?
                    .unwrap_or(false);
                let tb = args
                    .get("transposeB")
                    .map(|v| boolean(v))
                    .transpose()?
                    .unwrap_or(false);
                self.matmul(a, b, ta, tb).map(Arg::Tensor)
            }
            "conv" => {
                let x = t(self, "input")?;
                let f = t(self, "filter")?;
                let bias = t(self, "bias")?;
                self.conv(x, f, bias, &args).map(Arg::Tensor)
            }
            "box" => {
                let x = t(self, "input")?;
                let shape = shape_of(self, x);
                let size = usizes(get("size")?)?;
                let stride = usizes(get("stride")?)?;
                let pads = pairs(get("padding")?)?;
                let normalize = boolean(get("normalize")?)?;
                let r = shape.len();
                let ok = r >= 2
                    && normalize
                    && size.len() == r
                    && stride == size
                    && size[..r - 2].iter().all(|&s| s == 1)
                    && pads.iter().all(|&p| p == (0, 0))
                    && size[r - 2] > 0
                    && size[r - 1] > 0
                    && shape[r - 2] % size[r - 2] == 0
                    && shape[r - 1] % size[r - 1] == 0;
                if !ok {
                    return Err(
                        "only unpadded, non-overlapping average pooling is supported".into(),
                    );
                }
                let (h, w, kh, kw) = (shape[r - 2], shape[r - 1], size[r - 2], size[r - 1]);
                let mut out_shape = shape.clone();
                out_shape[r - 2] = h / kh;
                out_shape[r - 1] = w / kw;
                let planes = shape[..r - 2].iter().product();
                Ok(Arg::Tensor(self.step(
                    Op::AvgPool {
                        planes,
                        h,
                        w,
                        kh,
                        kw,
                    },
                    vec![x],
                    out_shape,
                )?))
            }
            "tract_core_resize" => {
                let x = t(self, "input")?;
                let shape = shape_of(self, x);
                let scales = floats(get("scales")?)?;
                let linear =
                    args.get("interpolator").map(|v| string(v)).transpose()? == Some("linear");
                let half = args
                    .get("coord_transformer")
                    .map(|v| string(v))
                    .transpose()?
                    .is_none_or(|c| c == "half_pixel");
                if !linear || !half || scales.len() != shape.len() {
                    return Err(
                        "only linear half-pixel resizing with a scale per axis is supported".into(),
                    );
                }
                let mut out_shape = shape.clone();
                let mut axes = vec![];
                for (d, &s) in scales.iter().enumerate() {
                    if !(s > 0.0 && s < 1024.0) {
                        return Err("bad resize scale".into());
                    }
                    if s == 1.0 {
                        continue;
                    }
                    let len_out = (shape[d] as f64 * s).floor() as usize;
                    if len_out == 0 || shape[d] == 0 {
                        return Err("empty resize".into());
                    }
                    let outer: usize = out_shape[..d].iter().product();
                    let inner: usize = out_shape[d + 1..].iter().product();
                    axes.push((
                        outer,
                        shape[d],
                        inner,
                        kernels::linear_taps(shape[d], len_out, s as f32),
                    ));
                    out_shape[d] = len_out;
                }
                checked_len(&out_shape)?;
                Ok(Arg::Tensor(self.step(
                    Op::Resize(axes),
                    vec![x],
                    out_shape,
                )?))
            }
            _ => Err(format!("operator {op} is not supported")),
        }
    }

    fn matmul(&mut self, a: usize, b: usize, ta: bool, tb: bool) -> R<usize> {
        let (sa, sb) = (self.values[a].shape.clone(), self.values[b].shape.clone());
        if sa.len() < 2 || sb.len() < 2 {
            return Err("matmul operands need two axes".into());
        }
        // The right operand must be contiguous k × n: transpose it first if asked.
        let (b, sb) = if tb {
            let r = sb.len();
            let mut perm: Vec<usize> = (0..r).collect();
            perm.swap(r - 2, r - 1);
            let shape: Vec<usize> = perm.iter().map(|&p| sb[p]).collect();
            let map = GatherMap {
                src_shape: sb,
                axes: perm.iter().map(|&p| (p, 0, 1)).collect(),
                shape: shape.clone(),
            };
            let v = self.step(Op::Gather(map), vec![b], shape.clone())?;
            (v, shape)
        } else {
            (b, sb)
        };
        let (ra, rb) = (sa.len(), sb.len());
        let (m, ka) = if ta {
            (sa[ra - 1], sa[ra - 2])
        } else {
            (sa[ra - 2], sa[ra - 1])
        };
        let (kb, n) = (sb[rb - 2], sb[rb - 1]);
        if ka != kb {
            return Err(format!("matmul of {sa:?} and {sb:?}: inner sizes differ"));
        }
        let k = ka;
        let (batch_plan, batch) = Broadcast::new(&sa[..ra - 2], &sb[..rb - 2])
            .ok_or("matmul batches do not broadcast")?;
        let _ = batch_plan;
        // Each output batch's operand offsets, by walking the broadcast batch index.
        let count: usize = batch.iter().product();
        let (pa, pb) = (
            pad_front(&sa[..ra - 2], batch.len()),
            pad_front(&sb[..rb - 2], batch.len()),
        );
        let (sta, stb) = (kernels::strides_of(&pa), kernels::strides_of(&pb));
        let mut batches = Vec::with_capacity(count);
        for flat in 0..count {
            let (mut rem, mut oa, mut ob) = (flat, 0, 0);
            for d in (0..batch.len()).rev() {
                let i = rem % batch[d];
                rem /= batch[d];
                if pa[d] != 1 {
                    oa += i * sta[d];
                }
                if pb[d] != 1 {
                    ob += i * stb[d];
                }
            }
            batches.push((oa * m * k, ob * k * n, flat * m * n));
        }
        let a_strides = if ta { (1, m) } else { (k, 1) };
        let a_packed = self.const_data(a).map(|data| {
            let mut all = vec![];
            let mut one = vec![];
            for &(a_off, _, _) in &batches {
                kernels::pack_a(&data[a_off..], m, k, a_strides.0, a_strides.1, &mut one);
                all.extend_from_slice(&one);
            }
            all
        });
        let mut shape = batch;
        shape.extend([m, n]);
        let op = Op::MatMul(MatMul {
            m,
            k,
            n,
            batches,
            a_packed,
            a_strides,
            fused: Fused::none(),
        });
        self.step(op, vec![a, b], shape)
    }

    fn conv(&mut self, x: usize, f: usize, bias: usize, args: &HashMap<&str, &Arg>) -> R<usize> {
        let xs = self.values[x].shape.clone();
        let fs = self.values[f].shape.clone();
        let [images, cin, h, w] = xs[..] else {
            return Err("convolution input must be NCHW".into());
        };
        let [cout, cpg, kh, kw] = fs[..] else {
            return Err("convolution filter must be OIHW".into());
        };
        let filter = self
            .const_data(f)
            .ok_or("convolution filter must be a constant")?;
        let bias_data = self
            .const_data(bias)
            .ok_or("convolution bias must be a constant")?;
        let bias: Vec<f32> = match bias_data.len() {
            1 => vec![bias_data[0]; cout],
            n if n == cout => bias_data.to_vec(),
            _ => return Err("bias size differs from the output channels".into()),
        };
        let get2 = |name: &str, default: usize| -> R<[usize; 2]> {
            match args.get(name) {
                Some(a) => match usizes(a)?[..] {
                    [] => Ok([default; 2]),
                    [y, x] => Ok([y, x]),
                    _ => Err(format!("{name} needs two values")),
                },
                None => Ok([default; 2]),
            }
        };
        let stride = get2("stride", 1)?;
        let dilation = get2("dilation", 1)?;
        if stride.contains(&0) || dilation.contains(&0) || kh == 0 || kw == 0 {
            return Err("zero stride, dilation or kernel".into());
        }
        if let Some(b) = args.get("border") {
            if string(b)? != "constant" {
                return Err("only zero padding is supported".into());
            }
        }
        let pads = match args.get("padding") {
            Some(p) => pairs(p)?,
            None => vec![],
        };
        let [(pt, pb), (pl, pr)] = pads[..] else {
            return Err("convolution padding must give two axes".into());
        };
        let groups = args.get("groups").map(|g| int(g)).transpose()?.unwrap_or(1);
        let groups = if groups == 0 {
            cin
        } else {
            usize::try_from(groups).map_err(|_| "negative groups")?
        };
        let span = |n: usize, k: usize, d: usize, s: usize, a: usize, b: usize| -> R<usize> {
            let ext = (k - 1) * d + 1;
            (n + a + b)
                .checked_sub(ext)
                .map(|x| x / s + 1)
                .ok_or_else(|| "kernel larger than the padded input".to_string())
        };
        let win = Window {
            kh,
            kw,
            stride,
            dilation,
            pad_before: [pt, pl],
            h,
            w,
            oh: span(h, kh, dilation[0], stride[0], pt, pb)?,
            ow: span(w, kw, dilation[1], stride[1], pl, pr)?,
        };
        let shape = vec![images, cout, win.oh, win.ow];
        let fused = Fused {
            bias: Some(bias),
            lo: f32::NEG_INFINITY,
            hi: f32::INFINITY,
        };
        let op = if groups == 1 && cpg == cin {
            let k = cin * kh * kw;
            let mut weights_packed = vec![];
            kernels::pack_a(&filter, cout, k, k, 1, &mut weights_packed);
            let direct =
                kh == 1 && kw == 1 && stride == [1, 1] && pads.iter().all(|&p| p == (0, 0));
            Op::Conv(Conv {
                images,
                cin,
                cout,
                win,
                weights_packed,
                direct,
                fused,
            })
        } else if groups == cin && cpg == 1 && cout == cin {
            Op::Depthwise(Depthwise {
                images,
                channels: cin,
                win,
                filters: filter.to_vec(),
                fused,
            })
        } else {
            return Err(format!(
                "grouped convolution ({groups} groups of {cpg}) is not supported"
            ));
        };
        self.step(op, vec![x], shape)
    }
}

/// The data of a constant value (through aliases).
fn const_of(values: &[Value], mut v: usize) -> Option<Arc<Vec<f32>>> {
    loop {
        match &values[v].source {
            Source::Const(c) => return Some(c.clone()),
            Source::Alias(of) => v = *of,
            _ => return None,
        }
    }
}

fn pad_front(s: &[usize], rank: usize) -> Vec<usize> {
    let mut v = vec![1; rank - s.len()];
    v.extend_from_slice(s);
    v
}

fn literal(l: &Literal) -> R<Arg> {
    Ok(match l {
        Literal::Numeric(s) => Arg::Num(s.parse::<f64>().map_err(|_| format!("bad number {s}"))?),
        Literal::String(s) => Arg::Str(s.clone()),
        Literal::Logical(b) => Arg::Bool(*b),
        Literal::Array(items) | Literal::Tuple(items) => {
            Arg::List(items.iter().map(literal).collect::<R<_>>()?)
        }
    })
}

fn num(a: &Arg) -> R<f64> {
    match a {
        Arg::Num(n) => Ok(*n),
        _ => Err("expected a number".into()),
    }
}

fn int(a: &Arg) -> R<i64> {
    let n = num(a)?;
    if n.fract() != 0.0 || n.abs() > (1u64 << 40) as f64 {
        return Err(format!("expected an integer, got {n}"));
    }
    Ok(n as i64)
}

fn ints(a: &Arg) -> R<Vec<i64>> {
    match a {
        Arg::List(items) => items.iter().map(int).collect(),
        _ => Err("expected a list of integers".into()),
    }
}

fn usizes(a: &Arg) -> R<Vec<usize>> {
    ints(a)?
        .into_iter()
        .map(|i| usize::try_from(i).map_err(|_| "expected a non-negative integer".to_string()))
        .collect()
}

fn floats(a: &Arg) -> R<Vec<f64>> {
    match a {
        Arg::List(items) => items.iter().map(num).collect(),
        _ => Err("expected a list of numbers".into()),
    }
}

fn string(a: &Arg) -> R<&str> {
    match a {
        Arg::Str(s) => Ok(s),
        _ => Err("expected a string".into()),
    }
}

fn boolean(a: &Arg) -> R<bool> {
    match a {
        Arg::Bool(b) => Ok(*b),
        _ => Err("expected a logical".into()),
    }
}

fn pairs(a: &Arg) -> R<Vec<(usize, usize)>> {
    match a {
        Arg::List(items) => items
            .iter()
            .map(|p| match usizes(p)?[..] {
                [x, y] => Ok((x, y)),
                _ => Err("expected pairs".to_string()),
            })
            .collect(),
        _ => Err("expected a list of pairs".into()),
    }
}
