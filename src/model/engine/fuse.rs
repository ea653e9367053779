//! The engine's rewrites of a built graph: what the models write as chains of small
//! operations, done in one pass (each product's bias and clamp, PReLU, a max pool's halves,
//! gathers of gathers), and the steps no output needs dropped.

use std::collections::HashMap;

use super::kernels::BinOp;
use super::{const_of, Engine, Op, Source, Step};

impl Engine {
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
    pub(super) fn compose_gathers(&mut self) {
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
    pub(super) fn fuse_pair_max(&mut self) {
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
    pub(super) fn fuse_prelu(&mut self) {
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
    pub(super) fn fuse_epilogues(&mut self) {
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
                // A clamp is max-then-min: a later max may join it only below its upper
                // bound, a later min only above its lower one (else the order matters).
                BinOp::Max if scalar && konst[0] <= *hi => *lo = lo.max(konst[0]),
                BinOp::Min if scalar && konst[0] >= *lo => *hi = hi.min(konst[0]),
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
    pub(super) fn drop_dead_steps(&mut self) {
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
}
