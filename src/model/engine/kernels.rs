//! The engine's numeric kernels: matrix multiplication, convolutions, element-wise
//! operations with broadcasting and strided copies, on `f32` slices in row-major order.
//!
//! Every function here trusts the shapes it is given — `super` checks them once when a
//! graph is built, so a step can never index out of its buffers; the checks written here are
//! the ones the `unsafe` SIMD loads rely on. The matrix kernel has two forms of one
//! algorithm: 128-bit wasm SIMD in the browser, plain arrays natively (which LLVM
//! vectorises for the host).

/// Rows of the packed left operand per micro-tile.
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
    pub const NONE: Epilogue<'static> = Epilogue {
        bias: None,
        lo: f32::NEG_INFINITY,
        hi: f32::INFINITY,
    };

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
pub fn pack_a(a: &[f32], m: usize, k: usize, row_stride: usize, col_stride: usize, out: &mut Vec<f32>) {
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
    // The bounds every access below stays within (the SIMD loads are unchecked).
    assert!(a_packed.len() >= m.div_ceil(MR) * k * MR);
    assert!(k == 0 || b.len() >= (k - 1) * ldb + n);
    assert!(c.len() >= (m - 1) * ldc + n);
    assert!(epilogue.bias.is_none_or(|bias| bias.len() >= m));
    let full = n - n % NR;
    for j in (0..full).step_by(NR) {
        for panel in 0..m.div_ceil(MR) {
            let a = &a_packed[panel * k * MR..][..k * MR];
            let acc = tile(a, &b[j..], ldb, k);
            for (r, row) in acc.iter().enumerate().take(m - panel * MR) {
                let i = panel * MR + r;
                let out = &mut c[i * ldc + j..][..NR];
                for (o, v) in out.iter_mut().zip(row) {
                    *o = epilogue.apply(i, *v);
                }
            }
        }
    }
    // The last columns, fewer than NR: plain dot products.
    for j in full..n {
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

/// One MR × NR tile of `a · b`: `a` is one packed panel (`k × MR`), `b` starts at the
/// tile's first column (`b.len() >= (k - 1) * ldb + NR`, checked by [`gemm`]).
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
fn tile(a: &[f32], b: &[f32], ldb: usize, k: usize) -> [[f32; NR]; MR] {
    use core::arch::wasm32::*;
    let (mut c00, mut c01, mut c10, mut c11) = (f32x4_splat(0.0), f32x4_splat(0.0), f32x4_splat(0.0), f32x4_splat(0.0));
    let (mut c20, mut c21, mut c30, mut c31) = (f32x4_splat(0.0), f32x4_splat(0.0), f32x4_splat(0.0), f32x4_splat(0.0));
    let ap = a.as_ptr();
    let bp = b.as_ptr();
    for p in 0..k {
        // SAFETY: p < k, so a[p * MR..][..MR] is inside the panel (k * MR values) and
        // b[p * ldb..][..NR] inside b, by gemm's assertions; v128 loads need no alignment.
        let (av, b0, b1) = unsafe {
            (
                v128_load(ap.add(p * MR) as *const v128),
                v128_load(bp.add(p * ldb) as *const v128),
                v128_load(bp.add(p * ldb + 4) as *const v128),
            )
        };
        let a0 = i32x4_shuffle::<0, 0, 0, 0>(av, av);
        let a1 = i32x4_shuffle::<1, 1, 1, 1>(av, av);
        let a2 = i32x4_shuffle::<2, 2, 2, 2>(av, av);
        let a3 = i32x4_shuffle::<3, 3, 3, 3>(av, av);
        c00 = f32x4_add(c00, f32x4_mul(a0, b0));
        c01 = f32x4_add(c01, f32x4_mul(a0, b1));
        c10 = f32x4_add(c10, f32x4_mul(a1, b0));
        c11 = f32x4_add(c11, f32x4_mul(a1, b1));
        c20 = f32x4_add(c20, f32x4_mul(a2, b0));
        c21 = f32x4_add(c21, f32x4_mul(a2, b1));
        c30 = f32x4_add(c30, f32x4_mul(a3, b0));
        c31 = f32x4_add(c31, f32x4_mul(a3, b1));
    }
    let lanes = |v: v128| {
        [
            f32x4_extract_lane::<0>(v),
            f32x4_extract_lane::<1>(v),
            f32x4_extract_lane::<2>(v),
            f32x4_extract_lane::<3>(v),
        ]
    };
    let row = |x: v128, y: v128| {
        let (x, y) = (lanes(x), lanes(y));
        [x[0], x[1], x[2], x[3], y[0], y[1], y[2], y[3]]
    };
    [row(c00, c01), row(c10, c11), row(c20, c21), row(c30, c31)]
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
#[inline(always)]
fn tile(a: &[f32], b: &[f32], ldb: usize, k: usize) -> [[f32; NR]; MR] {
    let mut acc = [[0.0f32; NR]; MR];
    for p in 0..k {
        let av: &[f32; MR] = a[p * MR..][..MR].try_into().unwrap_or(&[0.0; MR]);
        let bv: &[f32; NR] = b[p * ldb..][..NR].try_into().unwrap_or(&[0.0; NR]);
        for r in 0..MR {
            for j in 0..NR {
                acc[r][j] += av[r] * bv[j];
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
        (ox * self.stride[1] + kx * self.dilation[1]).checked_sub(self.pad_before[1]).filter(|&x| x < self.w)
    }

    /// The range of output columns whose input column for `kx` is inside the plane.
    fn valid_ox(&self, kx: usize) -> std::ops::Range<usize> {
        let first = (0..self.ow).find(|&ox| self.ix(ox, kx).is_some()).unwrap_or(self.ow);
        let end = (first..self.ow).find(|&ox| self.ix(ox, kx).is_none()).unwrap_or(self.ow);
        first..end
    }
}

/// Unfolds one NCHW image (`c` planes) into columns for a convolution as a matrix product:
/// row `(ci * kh + ky) * kw + kx`, column `oy * ow + ox` holds the input value that kernel
/// tap meets at that output position (0 in the padding).
pub fn im2col(input: &[f32], c: usize, win: &Window, out: &mut Vec<f32>) {
    let cols = win.oh * win.ow;
    out.clear();
    out.resize(c * win.kh * win.kw * cols, 0.0);
    for ci in 0..c {
        let plane = &input[ci * win.h * win.w..][..win.h * win.w];
        for ky in 0..win.kh {
            for kx in 0..win.kw {
                let row = &mut out[((ci * win.kh + ky) * win.kw + kx) * cols..][..cols];
                let xs = win.valid_ox(kx);
                for oy in 0..win.oh {
                    let Some(iy) = (oy * win.stride[0] + ky * win.dilation[0])
                        .checked_sub(win.pad_before[0])
                        .filter(|&y| y < win.h)
                    else {
                        continue;
                    };
                    let src = &plane[iy * win.w..][..win.w];
                    let dst = &mut row[oy * win.ow..][..win.ow];
                    let Some(x0) = win.ix(xs.start, kx) else {
                        continue;
                    };
                    if win.stride[1] == 1 {
                        dst[xs.clone()].copy_from_slice(&src[x0..][..xs.len()]);
                    } else {
                        for (o, ox) in xs.clone().enumerate() {
                            dst[ox] = src[x0 + o * win.stride[1]];
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
    // The plane padded on every side, so the inner loops need no bounds tests: rows and
    // columns the window can reach, from -pad_before to the last one an output reads.
    let ph = (win.oh - 1) * win.stride[0] + (win.kh - 1) * win.dilation[0] + 1;
    let pw = (win.ow - 1) * win.stride[1] + (win.kw - 1) * win.dilation[1] + 1;
    let (pt, pl) = (win.pad_before[0], win.pad_before[1]);
    padded.clear();
    padded.resize(ph * pw, 0.0);
    for ch in 0..channels {
        let plane = &input[ch * win.h * win.w..][..win.h * win.w];
        for y in 0..win.h.min(ph.saturating_sub(pt)) {
            let n = win.w.min(pw.saturating_sub(pl));
            padded[(y + pt) * pw + pl..][..n].copy_from_slice(&plane[y * win.w..][..n]);
        }
        let f = &filters[ch * win.kh * win.kw..][..win.kh * win.kw];
        let bias = epilogue.bias.map_or(0.0, |b| b[ch]);
        let o = &mut out[ch * win.oh * win.ow..][..win.oh * win.ow];
        for oy in 0..win.oh {
            let row = &mut o[oy * win.ow..][..win.ow];
            row.fill(bias);
            for ky in 0..win.kh {
                let src = &padded[(oy * win.stride[0] + ky * win.dilation[0]) * pw..][..pw];
                for kx in 0..win.kw {
                    let wv = f[ky * win.kw + kx];
                    let src = &src[kx * win.dilation[1]..];
                    if win.stride[1] == 1 {
                        for (r, s) in row.iter_mut().zip(&src[..win.ow]) {
                            *r += wv * s;
                        }
                    } else {
                        for (ox, r) in row.iter_mut().enumerate() {
                            *r += wv * src[ox * win.stride[1]];
                        }
                    }
                }
            }
            for r in row.iter_mut() {
                *r = r.max(epilogue.lo).min(epilogue.hi);
            }
        }
        // Rows of the border the next plane does not overwrite stay zero; the interior is
        // overwritten, so nothing else needs clearing.
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

impl BinOp {
    #[inline(always)]
    pub fn apply(self, a: f32, b: f32) -> f32 {
        match self {
            BinOp::Add => a + b,
            BinOp::Mul => a * b,
            BinOp::Min => a.min(b),
            BinOp::Max => a.max(b),
        }
    }
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
            if let (Some(&last), Some(&la), Some(&lb)) =
                (plan.dims.last(), plan.a_strides.last(), plan.b_strides.last())
            {
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

    /// `out = op(a, b)` over the whole output.
    pub fn run(&self, op: BinOp, a: &[f32], b: &[f32], out: &mut [f32]) {
        let last = self.dims.len() - 1;
        let (n, sa, sb) = (self.dims[last], self.a_strides[last], self.b_strides[last]);
        let outer: usize = self.dims[..last].iter().product();
        let mut index = vec![0usize; last];
        let (mut oa, mut ob) = (0usize, 0usize);
        for chunk in out.chunks_exact_mut(n).take(outer) {
            binary_row(op, &a[oa..], sa, &b[ob..], sb, chunk);
            // Odometer over the outer dimensions.
            for d in (0..last).rev() {
                index[d] += 1;
                oa += self.a_strides[d];
                ob += self.b_strides[d];
                if index[d] < self.dims[d] {
                    break;
                }
                oa -= self.a_strides[d] * self.dims[d];
                ob -= self.b_strides[d] * self.dims[d];
                index[d] = 0;
            }
        }
    }
}

/// One contiguous run of a binary operation, with the common stride cases kept apart so
/// each loop vectorises.
#[inline(always)]
fn binary_row(op: BinOp, a: &[f32], sa: usize, b: &[f32], sb: usize, out: &mut [f32]) {
    let n = out.len();
    macro_rules! each {
        ($f:expr) => {
            match (sa, sb) {
                (1, 1) => {
                    for ((o, x), y) in out.iter_mut().zip(&a[..n]).zip(&b[..n]) {
                        *o = $f(*x, *y);
                    }
                }
                (1, 0) => {
                    let y = b[0];
                    for (o, x) in out.iter_mut().zip(&a[..n]) {
                        *o = $f(*x, y);
                    }
                }
                (0, 1) => {
                    let x = a[0];
                    for (o, y) in out.iter_mut().zip(&b[..n]) {
                        *o = $f(x, *y);
                    }
                }
                _ => {
                    for (i, o) in out.iter_mut().enumerate() {
                        *o = $f(a[i * sa], b[i * sb]);
                    }
                }
            }
        };
    }
    match op {
        BinOp::Add => each!(|x: f32, y: f32| x + y),
        BinOp::Mul => each!(|x: f32, y: f32| x * y),
        BinOp::Min => each!(|x: f32, y: f32| x.min(y)),
        BinOp::Max => each!(|x: f32, y: f32| x.max(y)),
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
    let mut index = vec![0usize; last];
    let (mut so, mut d_o) = (src_off, dst_off);
    for _ in 0..outer {
        if ss == 1 && ds == 1 {
            dst[d_o..][..n].copy_from_slice(&src[so..][..n]);
        } else {
            for i in 0..n {
                dst[d_o + i * ds] = src[so + i * ss];
            }
        }
        for d in (0..last).rev() {
            index[d] += 1;
            so += src_strides[d];
            d_o += dst_strides[d];
            if index[d] < shape[d] {
                break;
            }
            so -= src_strides[d] * shape[d];
            d_o -= dst_strides[d] * shape[d];
            index[d] = 0;
        }
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
pub fn resize_axis(src: &[f32], outer: usize, len_in: usize, inner: usize, taps: &[(usize, usize, f32)], out: &mut [f32]) {
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
