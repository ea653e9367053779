//! From the NNEF document to the engine's steps: every operator's attributes read and
//! checked, every shape resolved, constants folded (a step whose inputs are all constants
//! runs here, once), weights packed.

use std::collections::HashMap;
use std::sync::Arc;

use super::kernels::{self, BinOp, Broadcast, Window};
use super::{
    const_of, execute, Conv, Depthwise, Fused, GatherMap, MatMul, Op, Source, Step, Value, R,
};
use crate::model::nnef_ast::{Document, LValue, Literal, RValue};

/// A value of the NNEF text as the builder sees it.
#[derive(Debug, Clone)]
enum Arg {
    Tensor(usize),
    Num(f64),
    Str(String),
    Bool(bool),
    List(Vec<Arg>),
}

/// A graph as read: its values and steps in order, its input value and its output values.
pub(super) struct Graph {
    pub values: Vec<Value>,
    pub steps: Vec<Step>,
    pub input: usize,
    pub outputs: Vec<usize>,
}

/// `doc`'s graph, every shape resolved and constants folded.
pub(super) fn graph(
    doc: &Document,
    tensors: &HashMap<String, (Vec<usize>, Arc<Vec<f32>>)>,
    input_shape: &[usize],
) -> R<Graph> {
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
    Ok(Graph {
        values,
        steps,
        input,
        outputs,
    })
}

struct Builder<'a> {
    values: Vec<Value>,
    steps: Vec<Step>,
    input: Option<usize>,
    tensors: &'a HashMap<String, (Vec<usize>, Arc<Vec<f32>>)>,
    input_shape: &'a [usize],
}

/// At most this many floats in one tensor (128 MB), and in all of a model's buffers and
/// constants together: far above what the models need (the largest tensor has 1.6 M), far
/// below what would exhaust a browser tab's memory.
pub(super) const MAX_FLOATS: usize = 1 << 25;

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
                // Shared with the archive's tensor: weights are not copied at load.
                Ok(Arg::Tensor(
                    self.add_value(shape, Source::Const(data.clone()))?,
                ))
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
                constant_border(&args)?;
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
        let (_, batch) = Broadcast::new(&sa[..ra - 2], &sb[..rb - 2])
            .ok_or("matmul batches do not broadcast")?;
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
        constant_border(args)?;
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

/// Refuses a `border` other than `"constant"` (the only padding the models use).
fn constant_border(args: &HashMap<&str, &Arg>) -> R<()> {
    match args.get("border") {
        Some(b) if string(b)? != "constant" => Err("only constant padding is supported".into()),
        _ => Ok(()),
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
