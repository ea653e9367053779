//! The engine's numeric kernels: matrix multiplication, convolutions, element-wise
//! operations with broadcasting and strided copies, on `f32` slices in row-major order.
//!
//! Every function here trusts the shapes it is given — `super` checks them once when a
//! graph is built, so a step can never index out of its buffers; the checks written here are
//! the ones the `unsafe` SIMD loads rely on. The matrix kernel has two forms of one
//! algorithm, written against [`F4`]: 128-bit wasm SIMD in the browser, plain arrays natively.

use super::simd::F4;

/// Rows of the packed left operand per micro-tile. 4 × 8 keeps a tile's 8 accumulators, 4
/// broadcast weights and 2 input vectors within the 16 vector registers V8 has on x86-64;
/// a 6 × 8 tile spilled there and ran the anti-spoof model 1.6× slower (BENCHMARKS.md).
pub const MR: usize = 4;
/// Columns of the right operand per micro-tile (two 4-lane vectors).
pub const NR: usize = 8;

/// What happens to a result before it is stored: a per-row (per output channel) bias, then
/// a clamp (`relu` is `[0, ∞)`, `relu6` `[0, 6]`).
#[derive(Debug, Clone, Copy)]
pub struct Epilogue<'a> {
    pub bias: Option<&'a [f32]>,
    pub lo: f32,
    pub hi: f32,
}

impl Epilogue<'_> {
    #[inline(always)]
    fn apply(&self, row: usize, v: f32) -> f32 {
        let v = match self.bias {
            Some(b) => v + b[row],
            None => v,
        };
        v.max(self.lo).min(self.hi)
    }
}

/// Packs the `m × k` matrix whose element (i, p) is `a[i * row_stride + p * col_stride]`
/// into panels of [`MR`] rows, `[ceil(m / MR)][k][MR]`, zero-padded past row `m`: the micro
/// kernel reads one panel column (MR values) with one load.
pub fn pack_a(
    a: &[f32],
    m: usize,
    k: usize,
    row_stride: usize,
    col_stride: usize,
    out: &mut Vec<f32>,
) {
    let panels = m.div_ceil(MR);
    out.clear();
    out.resize(panels * k * MR, 0.0);
    for panel in 0..panels {
        let dst = &mut out[panel * k * MR..][..k * MR];
        for r in 0..MR.min(m - panel * MR) {
            let row = (panel * MR + r) * row_stride;
            for p in 0..k {
                dst[p * MR + r] = a[row + p * col_stride];
            }
        }
    }
}

/// `c (m × n, row stride ldc) = epilogue(a · b)`, with `a` packed by [`pack_a`] and `b` a
/// `k × n` matrix of row stride `ldb`.
#[allow(clippy::too_many_arguments)]
pub fn gemm(
    m: usize,
    k: usize,
    n: usize,
    a_packed: &[f32],
    b: &[f32],
    ldb: usize,
    c: &mut [f32],
    ldc: usize,
    epilogue: Epilogue,
) {
    if m == 0 || n == 0 {
        return;
    }
    // The bounds every unchecked load and store below stays within.
    assert!(a_packed.len() >= m.div_ceil(MR) * k * MR);
    assert!(k == 0 || b.len() >= (k - 1) * ldb + n);
    assert!(c.len() >= (m - 1) * ldc + n);
    assert!(epilogue.bias.is_none_or(|bias| bias.len() >= m));
    let (lo, hi) = (F4::splat(epilogue.lo), F4::splat(epilogue.hi));
    let bias = |i: usize| F4::splat(epilogue.bias.map_or(0.0, |b| b[i]));
    let panels = m.div_ceil(MR);
    let mut j = 0;
    // Tiles of NR columns, then one of 4, then single columns.
    while j + NR <= n {
        for panel in 0..panels {
            let a = &a_packed[panel * k * MR..][..k * MR];
            let acc = tile::<2>(a, b, ldb, j, k);
            for (r, row) in acc.iter().enumerate().take(m - panel * MR) {
                let i = panel * MR + r;
                let at = i * ldc + j;
                // SAFETY: j + NR <= n and i < m, so at + NR <= (m - 1) * ldc + n <= c.len().
                unsafe {
                    row[0].add(bias(i)).clamp(lo, hi).store(c, at);
                    row[1].add(bias(i)).clamp(lo, hi).store(c, at + 4);
                }
            }
        }
        j += NR;
    }
    if j + 4 <= n {
        for panel in 0..panels {
            let a = &a_packed[panel * k * MR..][..k * MR];
            let acc = tile::<1>(a, b, ldb, j, k);
            for (r, row) in acc.iter().enumerate().take(m - panel * MR) {
                let i = panel * MR + r;
                // SAFETY: as above, with 4 columns.
                unsafe { row[0].add(bias(i)).clamp(lo, hi).store(c, i * ldc + j) };
            }
        }
        j += 4;
    }
    for j in j..n {
        for i in 0..m {
            let a = &a_packed[(i / MR) * k * MR + i % MR..];
            let mut s = 0.0f32;
            for p in 0..k {
                s += a[p * MR] * b[p * ldb + j];
            }
            c[i * ldc + j] = epilogue.apply(i, s);
        }
    }
}

/// One MR × (4·V) tile of `a · b` at column `j`: `a` is one packed panel (`k × MR`).
/// The caller guarantees `b.len() >= (k - 1) * ldb + j + 4 * V` ([`gemm`] asserts it).
#[inline(always)]
fn tile<const V: usize>(a: &[f32], b: &[f32], ldb: usize, j: usize, k: usize) -> [[F4; V]; MR] {
    let mut acc = [[F4::splat(0.0); V]; MR];
    for p in 0..k {
        // SAFETY: p < k: the panel holds k * MR values, and row p of b has 4·V columns
        // from j (gemm's assertions).
        let bv: [F4; V] = std::array::from_fn(|v| unsafe { F4::load(b, p * ldb + j + 4 * v) });
        for (r, row) in acc.iter_mut().enumerate() {
            let av = unsafe { F4::load_splat(a, p * MR + r) };
            for (c, bv) in row.iter_mut().zip(&bv) {
                *c = c.mul_add(av, *bv);
            }
        }
    }
    acc
}

/// A 2-D convolution window over an NCHW plane: kernel size, stride, dilation and the
/// padding before each axis (after-padding is implied by the output size).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub kh: usize,
    pub kw: usize,
    pub stride: [usize; 2],
    pub dilation: [usize; 2],
    pub pad_before: [usize; 2],
    /// Input plane height and width.
    pub h: usize,
    pub w: usize,
    /// Output plane height and width.
    pub oh: usize,
    pub ow: usize,
}

impl Window {
    /// The input column for output column `ox` and kernel column `kx`, if inside the plane.
    #[inline(always)]
    fn ix(&self, ox: usize, kx: usize) -> Option<usize> {
        (ox * self.stride[1] + kx * self.dilation[1])
            .checked_sub(self.pad_before[1])
            .filter(|&x| x < self.w)
    }

    /// The range of output columns whose input column for `kx` is inside the plane.
    fn valid_ox(&self, kx: usize) -> std::ops::Range<usize> {
        let first = (0..self.ow)
            .find(|&ox| self.ix(ox, kx).is_some())
            .unwrap_or(self.ow);
        let end = (first..self.ow)
            .find(|&ox| self.ix(ox, kx).is_none())
            .unwrap_or(self.ow);
        first..end
    }
}

/// Unfolds output positions `first .. first + count` of one NCHW image (`c` planes) into
/// columns for a convolution as a matrix product: row `(ci * kh + ky) * kw + kx`, column
/// `p - first` holds the input value that kernel tap meets at output position `p` (0 in
/// the padding). A block of positions at a time keeps the columns in cache.
pub fn im2col(
    input: &[f32],
    c: usize,
    win: &Window,
    first: usize,
    count: usize,
    out: &mut Vec<f32>,
) {
    out.clear();
    out.resize(c * win.kh * win.kw * count, 0.0);
    let end = first + count;
    let valid: Vec<std::ops::Range<usize>> = (0..win.kw).map(|kx| win.valid_ox(kx)).collect();
    for ci in 0..c {
        let plane = &input[ci * win.h * win.w..][..win.h * win.w];
        for ky in 0..win.kh {
            for kx in 0..win.kw {
                let row = &mut out[((ci * win.kh + ky) * win.kw + kx) * count..][..count];
                let xs = &valid[kx];
                let mut p = first;
                // One output row's part of the block at a time.
                while p < end {
                    let (oy, ox0) = (p / win.ow, p % win.ow);
                    let ox1 = win.ow.min(ox0 + end - p);
                    let dst = &mut row[p - first..][..ox1 - ox0];
                    p += ox1 - ox0;
                    let Some(iy) = (oy * win.stride[0] + ky * win.dilation[0])
                        .checked_sub(win.pad_before[0])
                        .filter(|&y| y < win.h)
                    else {
                        continue;
                    };
                    let src = &plane[iy * win.w..][..win.w];
                    let (a, b) = (xs.start.max(ox0), xs.end.min(ox1));
                    let Some(x0) = win.ix(a, kx).filter(|_| a < b) else {
                        continue;
                    };
                    let dst = &mut dst[a - ox0..b - ox0];
                    if win.stride[1] == 1 {
                        dst.copy_from_slice(&src[x0..][..b - a]);
                    } else {
                        for (o, d) in dst.iter_mut().enumerate() {
                            *d = src[x0 + o * win.stride[1]];
                        }
                    }
                }
            }
        }
    }
}

/// Depthwise convolution of one NCHW image: plane `ch` convolved with its own `kh × kw`
/// filter, plus bias, clamped. `padded` is scratch for one zero-padded plane.
pub fn depthwise(
    input: &[f32],
    channels: usize,
    win: &Window,
    filters: &[f32],
    epilogue: Epilogue,
    out: &mut [f32],
    padded: &mut Vec<f32>,
) {
    let (sy, sx) = (win.stride[0], win.stride[1]);
    let (dy, dx) = (win.dilation[0], win.dilation[1]);
    if sx > 2 {
        return depthwise_scalar(input, channels, win, filters, epilogue, out, padded);
    }
    // Outputs are computed 4 at a time: `owv` columns, the last few discarded.
    let owv = win.ow.div_ceil(4) * 4;
    let pl = win.pad_before[1];
    // The plane zero-padded on every side, wide enough for every vector load (a stride-2
    // load reads 8 values) and for the whole input row; rows as far as outputs reach.
    let reach = if sx == 1 { owv } else { 2 * owv } + (win.kw - 1) * dx;
    let pw = reach.max(pl + win.w);
    let ph = (win.oh - 1) * sy + (win.kh - 1) * dy + 1;
    padded.clear();
    padded.resize(ph * pw, 0.0);
    let taps = win.kh * win.kw;
    let (lo, hi) = (F4::splat(epilogue.lo), F4::splat(epilogue.hi));
    let mut weights = vec![F4::splat(0.0); taps];
    for ch in 0..channels {
        let plane = &input[ch * win.h * win.w..][..win.h * win.w];
        copy_into_padded(plane, win, ph, pw, padded);
        let f = &filters[ch * taps..][..taps];
        for (w, &v) in weights.iter_mut().zip(f) {
            *w = F4::splat(v);
        }
        let bias = F4::splat(epilogue.bias.map_or(0.0, |b| b[ch]));
        let o = &mut out[ch * win.oh * win.ow..][..win.oh * win.ow];
        for oy in 0..win.oh {
            for x in (0..owv).step_by(4) {
                let mut acc = bias;
                for ky in 0..win.kh {
                    let base = (oy * sy + ky * dy) * pw + x * sx;
                    for kx in 0..win.kw {
                        let at = base + kx * dx;
                        // SAFETY: the row index is below ph, and at + 4 (stride 1) or at + 8
                        // (stride 2) is at most reach <= pw past the row's start.
                        let v = unsafe {
                            if sx == 1 {
                                F4::load(padded, at)
                            } else {
                                F4::load_even(padded, at)
                            }
                        };
                        acc = acc.mul_add(weights[ky * win.kw + kx], v);
                    }
                }
                let acc = acc.clamp(lo, hi);
                let at = oy * win.ow + x;
                if x + 4 <= win.ow {
                    // SAFETY: at + 4 <= (oy + 1) * ow <= o.len().
                    unsafe { acc.store(o, at) };
                } else {
                    let n = win.ow - x;
                    o[at..at + n].copy_from_slice(&acc.to_array()[..n]);
                }
            }
        }
    }
}

/// Copies one input plane into the interior of a zero-padded `ph × pw` plane (rows past
/// `ph` are never read by the window, so they are not copied).
fn copy_into_padded(plane: &[f32], win: &Window, ph: usize, pw: usize, padded: &mut [f32]) {
    let (pt, pl) = (win.pad_before[0], win.pad_before[1]);
    for y in 0..win.h.min(ph.saturating_sub(pt)) {
        padded[(y + pt) * pw + pl..][..win.w].copy_from_slice(&plane[y * win.w..][..win.w]);
    }
}

/// [`depthwise`] for strides above 2, one value at a time.
fn depthwise_scalar(
    input: &[f32],
    channels: usize,
    win: &Window,
    filters: &[f32],
    epilogue: Epilogue,
    out: &mut [f32],
    padded: &mut Vec<f32>,
) {
    let ph = (win.oh - 1) * win.stride[0] + (win.kh - 1) * win.dilation[0] + 1;
    let pw = ((win.ow - 1) * win.stride[1] + (win.kw - 1) * win.dilation[1] + 1)
        .max(win.pad_before[1] + win.w);
    padded.clear();
    padded.resize(ph * pw, 0.0);
    for ch in 0..channels {
        let plane = &input[ch * win.h * win.w..][..win.h * win.w];
        copy_into_padded(plane, win, ph, pw, padded);
        let f = &filters[ch * win.kh * win.kw..][..win.kh * win.kw];
        let o = &mut out[ch * win.oh * win.ow..][..win.oh * win.ow];
        for oy in 0..win.oh {
            for ox in 0..win.ow {
                let mut s = 0.0;
                for ky in 0..win.kh {
                    for kx in 0..win.kw {
                        let y = oy * win.stride[0] + ky * win.dilation[0];
                        let x = ox * win.stride[1] + kx * win.dilation[1];
                        s += f[ky * win.kw + kx] * padded[y * pw + x];
                    }
                }
                o[oy * win.ow + ox] = epilogue.apply(ch, s);
            }
        }
    }
}

/// The element-wise binary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Mul,
    Min,
    Max,
}

/// How a broadcast binary operation walks its operands: the output's dimensions merged
/// where both operands are laid out alike, with each operand's stride (0 where broadcast).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broadcast {
    pub dims: Vec<usize>,
    pub a_strides: Vec<usize>,
    pub b_strides: Vec<usize>,
}

impl Broadcast {
    /// The plan for operands of shapes `a` and `b` (right-aligned numpy broadcasting), and
    /// the output shape; `None` if they do not broadcast.
    pub fn new(a: &[usize], b: &[usize]) -> Option<(Broadcast, Vec<usize>)> {
        let rank = a.len().max(b.len());
        let pad = |s: &[usize]| {
            let mut v = vec![1; rank - s.len()];
            v.extend_from_slice(s);
            v
        };
        let (a, b) = (pad(a), pad(b));
        let mut out = Vec::with_capacity(rank);
        for (&x, &y) in a.iter().zip(&b) {
            out.push(match (x, y) {
                _ if x == y => x,
                (1, y) => y,
                (x, 1) => x,
                _ => return None,
            });
        }
        let strides = |s: &[usize]| {
            let mut st = vec![0; rank];
            let mut acc = 1;
            for d in (0..rank).rev() {
                st[d] = if s[d] == 1 && out[d] != 1 { 0 } else { acc };
                acc *= s[d];
            }
            st
        };
        let (sa, sb) = (strides(&a), strides(&b));
        // Merge dimension d into d + 1 when both operands step across them as one.
        let mut plan = Broadcast {
            dims: vec![],
            a_strides: vec![],
            b_strides: vec![],
        };
        for d in 0..rank {
            if out[d] == 1 {
                continue;
            }
            if let (Some(&last), Some(&la), Some(&lb)) = (
                plan.dims.last(),
                plan.a_strides.last(),
                plan.b_strides.last(),
            ) {
                if la == sa[d] * out[d] && lb == sb[d] * out[d] {
                    let n = plan.dims.len() - 1;
                    plan.dims[n] = last * out[d];
                    plan.a_strides[n] = sa[d];
                    plan.b_strides[n] = sb[d];
                    continue;
                }
            }
            plan.dims.push(out[d]);
            plan.a_strides.push(sa[d]);
            plan.b_strides.push(sb[d]);
        }
        if plan.dims.is_empty() {
            plan.dims.push(1);
            plan.a_strides.push(0);
            plan.b_strides.push(0);
        }
        Some((plan, out))
    }

    /// `out = clamp(op(a, b), lo, hi)` over the whole output.
    pub fn run(&self, op: BinOp, a: &[f32], b: &[f32], out: &mut [f32], lo: f32, hi: f32) {
        if out.is_empty() {
            return;
        }
        let last = self.dims.len() - 1;
        let (n, sa, sb) = (self.dims[last], self.a_strides[last], self.b_strides[last]);
        let outer: usize = self.dims[..last].iter().product();
        let mut rows = Rows::new(
            &self.dims[..last],
            [&self.a_strides, &self.b_strides],
            [0, 0],
        );
        for chunk in out.chunks_exact_mut(n).take(outer) {
            let [oa, ob] = rows.offsets;
            binary_row(op, &a[oa..], sa, &b[ob..], sb, chunk, [lo, hi]);
            rows.advance();
        }
    }
}

/// One contiguous run of a binary operation, 4 lanes at a time, with the common stride
/// cases apart so each loop is straight vector code.
#[inline(always)]
fn binary_row(
    op: BinOp,
    a: &[f32],
    sa: usize,
    b: &[f32],
    sb: usize,
    out: &mut [f32],
    clamp: [f32; 2],
) {
    match op {
        BinOp::Add => binary_row_with(a, sa, b, sb, out, clamp, F4::add, |x, y| x + y),
        BinOp::Mul => binary_row_with(a, sa, b, sb, out, clamp, F4::mul, |x, y| x * y),
        BinOp::Min => binary_row_with(a, sa, b, sb, out, clamp, F4::min, min),
        BinOp::Max => binary_row_with(a, sa, b, sb, out, clamp, F4::max, max),
    }
}

/// `pmin`'s semantics (what [`F4::min`] does), one value.
#[inline(always)]
fn min(x: f32, y: f32) -> f32 {
    if y < x {
        y
    } else {
        x
    }
}

/// `pmax`'s semantics (what [`F4::max`] does), one value.
#[inline(always)]
fn max(x: f32, y: f32) -> f32 {
    if x < y {
        y
    } else {
        x
    }
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn binary_row_with(
    a: &[f32],
    sa: usize,
    b: &[f32],
    sb: usize,
    out: &mut [f32],
    [lo, hi]: [f32; 2],
    v: impl Fn(F4, F4) -> F4,
    s: impl Fn(f32, f32) -> f32,
) {
    let (lov, hiv) = (F4::splat(lo), F4::splat(hi));
    let v = |x: F4, y: F4| v(x, y).clamp(lov, hiv);
    let s = |x: f32, y: f32| min(max(s(x, y), lo), hi);
    let n = out.len();
    let full = n - n % 4;
    match (sa, sb) {
        (1, 1) => {
            let (a, b) = (&a[..n], &b[..n]);
            for i in (0..full).step_by(4) {
                // SAFETY: i + 4 <= full <= n, the length of a, b and out.
                unsafe { v(F4::load(a, i), F4::load(b, i)).store(out, i) };
            }
            for i in full..n {
                out[i] = s(a[i], b[i]);
            }
        }
        (1, 0) => {
            let (a, y) = (&a[..n], b[0]);
            let yv = F4::splat(y);
            for i in (0..full).step_by(4) {
                // SAFETY: as above.
                unsafe { v(F4::load(a, i), yv).store(out, i) };
            }
            for i in full..n {
                out[i] = s(a[i], y);
            }
        }
        (0, 1) => {
            let (x, b) = (a[0], &b[..n]);
            let xv = F4::splat(x);
            for i in (0..full).step_by(4) {
                // SAFETY: as above.
                unsafe { v(xv, F4::load(b, i)).store(out, i) };
            }
            for i in full..n {
                out[i] = s(x, b[i]);
            }
        }
        _ => {
            for (i, o) in out.iter_mut().enumerate() {
                *o = s(a[i * sa], b[i * sb]);
            }
        }
    }
}

/// Copies the `shape`-sized block whose element at index `i` is `src[src_off + Σ i_d ·
/// src_strides_d]` to `dst[dst_off + Σ i_d · dst_strides_d]`. Transpose, slice, strided
/// downsampling, concatenation and padding are all this copy.
pub fn copy_strided(
    src: &[f32],
    src_off: usize,
    src_strides: &[usize],
    dst: &mut [f32],
    dst_off: usize,
    dst_strides: &[usize],
    shape: &[usize],
) {
    if shape.contains(&0) {
        return;
    }
    let Some(last) = shape.len().checked_sub(1) else {
        dst[dst_off] = src[src_off];
        return;
    };
    let (n, ss, ds) = (shape[last], src_strides[last], dst_strides[last]);
    let outer: usize = shape[..last].iter().product();
    let mut rows = Rows::new(
        &shape[..last],
        [src_strides, dst_strides],
        [src_off, dst_off],
    );
    for _ in 0..outer {
        let [so, d_o] = rows.offsets;
        if ss == 1 && ds == 1 {
            dst[d_o..][..n].copy_from_slice(&src[so..][..n]);
        } else {
            for i in 0..n {
                dst[d_o + i * ds] = src[so + i * ss];
            }
        }
        rows.advance();
    }
}

/// Row-major strides of `shape`.
pub fn strides_of(shape: &[usize]) -> Vec<usize> {
    let mut st = vec![1; shape.len()];
    for d in (0..shape.len().saturating_sub(1)).rev() {
        st[d] = st[d + 1] * shape[d + 1];
    }
    st
}

/// One axis of a linear (half-pixel) resize: for each output index, the two input indices
/// it reads and the weight of the second, as tract's `Resize` computes them.
pub fn linear_taps(len_in: usize, len_out: usize, scale: f32) -> Vec<(usize, usize, f32)> {
    (0..len_out)
        .map(|x| {
            let x_in = (x as f32 + 0.5) / scale - 0.5;
            let cell = x_in.ceil() - 1.0;
            let r = x_in - cell;
            let clamp = |i: f32| (i.max(0.0) as usize).min(len_in - 1);
            (clamp(cell), clamp(cell + 1.0), r)
        })
        .collect()
}

/// Resizes along one axis: `src` seen as `[outer, len_in, inner]` becomes `[outer,
/// taps.len(), inner]`, each output row a blend of two input rows.
pub fn resize_axis(
    src: &[f32],
    outer: usize,
    len_in: usize,
    inner: usize,
    taps: &[(usize, usize, f32)],
    out: &mut [f32],
) {
    let len_out = taps.len();
    for o in 0..outer {
        let s = &src[o * len_in * inner..][..len_in * inner];
        let d = &mut out[o * len_out * inner..][..len_out * inner];
        for (x, &(i0, i1, r)) in taps.iter().enumerate() {
            let (r0, r1) = (&s[i0 * inner..][..inner], &s[i1 * inner..][..inner]);
            for ((v, a), b) in d[x * inner..][..inner].iter_mut().zip(r0).zip(r1) {
                *v = a * (1.0 - r) + b * r;
            }
        }
    }
}

/// PReLU as the models write it: `x + k[c] · min(x, 0)` over `[outer, k.len(), inner]`.
pub fn prelu(x: &[f32], outer: usize, k: &[f32], inner: usize, out: &mut [f32]) {
    let channels = k.len();
    let zero = F4::splat(0.0);
    let full = inner - inner % 4;
    for o in 0..outer {
        for (c, &kc) in k.iter().enumerate() {
            let at = (o * channels + c) * inner;
            let (xs, ys) = (&x[at..][..inner], &mut out[at..][..inner]);
            let kv = F4::splat(kc);
            for i in (0..full).step_by(4) {
                // SAFETY: i + 4 <= full <= inner, the length of xs and ys.
                unsafe {
                    let v = F4::load(xs, i);
                    v.mul_add(kv, v.min(zero)).store(ys, i);
                }
            }
            for i in full..inner {
                ys[i] = xs[i] + kc * min(xs[i], 0.0);
            }
        }
    }
}

/// `out[i] = max(src[o0 + i·strides], src[o1 + i·strides])` over `shape` (two gathers with
/// one walk, as a max pool's halves are): the last axis 4 at a time when its stride is 1
/// or 2.
pub fn pair_max(
    src: &[f32],
    o0: usize,
    o1: usize,
    strides: &[usize],
    shape: &[usize],
    out: &mut [f32],
) {
    if shape.contains(&0) {
        return;
    }
    let Some(last) = shape.len().checked_sub(1) else {
        out[0] = max(src[o0], src[o1]);
        return;
    };
    let (n, s) = (shape[last], strides[last]);
    let outer: usize = shape[..last].iter().product();
    let mut rows = Rows::new(&shape[..last], [strides], [0]);
    for row in out.chunks_exact_mut(n).take(outer) {
        let [base] = rows.offsets;
        let (p0, p1) = (base + o0, base + o1);
        let mut i = 0;
        if s == 1 {
            while i + 4 <= n && p0.max(p1) + i + 4 <= src.len() {
                // SAFETY: checked just above.
                unsafe {
                    F4::load(src, p0 + i)
                        .max(F4::load(src, p1 + i))
                        .store(row, i)
                };
                i += 4;
            }
        } else if s == 2 {
            while i + 4 <= n && p0.max(p1) + 2 * i + 8 <= src.len() {
                // SAFETY: checked just above.
                unsafe {
                    F4::load_even(src, p0 + 2 * i)
                        .max(F4::load_even(src, p1 + 2 * i))
                        .store(row, i)
                };
                i += 4;
            }
        }
        for j in i..n {
            row[j] = max(src[p0 + j * s], src[p1 + j * s]);
        }
        rows.advance();
    }
}

/// Walks the outer dimensions of a loop nest row by row (an odometer), keeping each
/// operand's offset at the current row's start.
struct Rows<'a, const N: usize> {
    dims: &'a [usize],
    strides: [&'a [usize]; N],
    index: Vec<usize>,
    offsets: [usize; N],
}

impl<'a, const N: usize> Rows<'a, N> {
    /// `dims` are the outer dimensions; each operand's strides cover at least as many.
    fn new(dims: &'a [usize], strides: [&'a [usize]; N], offsets: [usize; N]) -> Self {
        Rows {
            dims,
            strides,
            index: vec![0; dims.len()],
            offsets,
        }
    }

    /// On to the next row.
    fn advance(&mut self) {
        for d in (0..self.dims.len()).rev() {
            self.index[d] += 1;
            for (o, s) in self.offsets.iter_mut().zip(&self.strides) {
                *o += s[d];
            }
            if self.index[d] < self.dims[d] {
                return;
            }
            for (o, s) in self.offsets.iter_mut().zip(&self.strides) {
                *o -= s[d] * self.dims[d];
            }
            self.index[d] = 0;
        }
    }
}
