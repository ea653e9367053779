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

use super::nnef_ast::Document;

mod build;
mod fuse;
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

impl Engine {
    /// Builds the engine for `doc` (the archive's `graph.nnef`) with its `tensors` (each
    /// `.dat` file by label, with its shape), for an input of `input_shape`.
    pub fn build(
        doc: &Document,
        tensors: &HashMap<String, (Vec<usize>, Arc<Vec<f32>>)>,
        input_shape: &[usize],
    ) -> R<Engine> {
        let build::Graph {
            values,
            steps,
            input,
            outputs,
        } = build::graph(doc, tensors, input_shape)?;
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
        if engine.buffer_floats().saturating_add(constants) > 2 * build::MAX_FLOATS {
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
        // Allocated by the first run (or again after a run that did not finish).
        let sized = scratch.slots.len() == self.slot_sizes.len()
            && scratch
                .slots
                .iter()
                .zip(&self.slot_sizes)
                .all(|(s, &n)| s.len() == n);
        if !sized {
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
            // Axis by axis: the first reads the input, the last writes `out`, any between
            // go through the two scratch buffers in turn (no copy of the input).
            let Some((last, before)) = axes.split_last() else {
                out.copy_from_slice(&ins[0][..out.len()]);
                return;
            };
            let (mut current, mut next) = (std::mem::take(pack), std::mem::take(cols));
            for (i, (outer, len_in, inner, taps)) in before.iter().enumerate() {
                let src: &[f32] = if i == 0 { ins[0] } else { &current };
                next.clear();
                next.resize(outer * taps.len() * inner, 0.0);
                kernels::resize_axis(src, *outer, *len_in, *inner, taps, &mut next);
                std::mem::swap(&mut current, &mut next);
            }
            let src: &[f32] = if before.is_empty() { ins[0] } else { &current };
            let (outer, len_in, inner, taps) = last;
            let len = outer * taps.len() * inner;
            kernels::resize_axis(src, *outer, *len_in, *inner, taps, &mut out[..len]);
            (*pack, *cols) = (current, next);
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
