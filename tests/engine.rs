//! liveform's inference engine (`liveform::model::engine`) against tract, on small graphs
//! made here with random shapes — the kernels' edge cases (odd widths, strides 1 and 2,
//! padding, partial tiles, broadcasting, fusions) — and on damaged versions of a real
//! model's graph, which must be refused with an error, never a panic. The committed models
//! themselves are compared with tract in tests/nnef.rs.
#![cfg(not(target_arch = "wasm32"))]

mod common;
#[path = "common/rng.rs"]
mod rng;

use common::*;
use liveform::model::engine::Engine;
use liveform::model::nnef_text::{read_document, Outcome};
use liveform::model::{read_nnef_archive_for_engine, ModelFormat, ModelKind};
use rng::TestRng;
use tract_nnef::prelude::*;

/// A random value in [-1, 1).
fn uniform(rng: &mut TestRng) -> f32 {
    (rng.below(1 << 20) as f32 / (1 << 19) as f32) - 1.0
}

/// An NNEF tensor file: the 128-byte header tract writes for `f32`, then the data.
fn dat(shape: &[usize], data: &[f32]) -> Vec<u8> {
    let mut h = vec![0u8; 128];
    h[..4].copy_from_slice(&[0x4e, 0xef, 1, 0]);
    h[4..8].copy_from_slice(&((data.len() * 4) as u32).to_le_bytes());
    h[8..12].copy_from_slice(&(shape.len() as u32).to_le_bytes());
    for (i, d) in shape.iter().enumerate() {
        h[12 + 4 * i..16 + 4 * i].copy_from_slice(&(*d as u32).to_le_bytes());
    }
    h[44..48].copy_from_slice(&32u32.to_le_bytes());
    h.extend(data.iter().flat_map(|v| v.to_le_bytes()));
    h
}

/// A model archive: `graph.nnef` and its variables.
fn archive(graph: &str, tensors: &[(&str, Vec<usize>, Vec<f32>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |name: &str, bytes: &[u8]| {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        b.append_data(&mut header, name, bytes).unwrap();
    };
    add("graph.nnef", graph.as_bytes());
    for (label, shape, data) in tensors {
        add(&format!("{label}.dat"), &dat(shape, data));
    }
    b.into_inner().unwrap()
}

/// Runs `graph` on `input` through tract (its NNEF reader and optimiser) and through the
/// engine, and asserts they agree.
fn agree(
    what: &str,
    graph: &str,
    tensors: &[(&str, Vec<usize>, Vec<f32>)],
    shape: &[usize],
    input: &[f32],
) {
    let bytes = archive(graph, tensors);
    let tract = tract_nnef::nnef()
        .model_for_read(&mut std::io::Cursor::new(&bytes))
        .and_then(|m| m.into_optimized()?.into_runnable())
        .unwrap_or_else(|e| panic!("{what}: tract refuses the graph: {e:?}\n{graph}"));
    let want: Vec<Vec<f32>> = tract
        .run(tvec!(Tensor::from_shape(shape, input).unwrap().into()))
        .unwrap()
        .iter()
        .map(|t| {
            t.to_plain_array_view::<f32>()
                .unwrap()
                .iter()
                .copied()
                .collect()
        })
        .collect();
    let (doc, tensors) = read_nnef_archive_for_engine(&bytes).unwrap();
    let engine =
        Engine::build(&doc, &tensors, shape).unwrap_or_else(|e| panic!("{what}: {e}\n{graph}"));
    let got = engine.run(input).unwrap();
    assert_outputs_close(what, &got, &want);
    // A second run reuses the buffers: same answer.
    assert_eq!(engine.run(input).unwrap(), got, "{what}: second run");
}

fn random(rng: &mut TestRng, n: usize) -> Vec<f32> {
    (0..n).map(|_| uniform(rng)).collect()
}

fn header() -> &'static str {
    "version 1.0;\n\nextension tract_registry tract_core;\n\ngraph network(input) -> (output) {\n"
}

/// Convolutions (full and depthwise) with bias, relu6 and a residual add, over random sizes,
/// kernels, strides and paddings; then a 2×2 max pool written as tract writes it.
#[test]
fn convolutions_agree_with_tract() {
    let mut rng = TestRng(0x5eed_c0de);
    for case in 0..40 {
        let k = [1, 3, 5][rng.below(3)];
        let (c, h, w) = (1 + rng.below(9), k + rng.below(14), k + rng.below(19));
        let stride = 1 + rng.below(2);
        let pad = rng.below(k / 2 + 1);
        let depthwise = rng.below(2) == 1;
        let cout = if depthwise { c } else { 1 + rng.below(13) };
        let groups = if depthwise { c } else { 1 };
        let cin_per_group = if depthwise { 1 } else { c };
        let filter = random(&mut rng, cout * cin_per_group * k * k);
        let bias = random(&mut rng, cout);
        let oh = (h + 2 * pad - k) / stride + 1;
        let ow = (w + 2 * pad - k) / stride + 1;
        let pool = oh >= 2 && ow >= 2 && rng.below(2) == 1;
        let mut g = String::from(header());
        g += &format!("  input = external(shape = [1, {h}, {w}, {c}]);\n");
        g += "  x = transpose(input, axes = [0, 3, 1, 2]);\n";
        g += &format!(
            "  f = variable<scalar>(label = \"f\", shape = [{cout}, {cin_per_group}, {k}, {k}]);\n"
        );
        g += &format!("  b = variable<scalar>(label = \"b\", shape = [{cout}]);\n");
        g += &format!(
            "  y = conv(x, f, b, dilation = [1, 1], stride = [{stride}, {stride}], border = \"constant\", groups = {groups}, padding = [({pad}, {pad}), ({pad}, {pad})]);\n"
        );
        g += "  lo = max(y, 0.0);\n  r = min(lo, 6.0);\n";
        let mut last = "r".to_string();
        if depthwise && stride == 1 && pad * 2 + 1 == k {
            // Same size as the input: a residual connection.
            g += "  s = add(r, x);\n";
            last = "s".into();
        }
        if pool {
            let (eh, ew) = (oh / 2 * 2, ow / 2 * 2);
            g += &format!("  cw = slice({last}, axes = [3], begin = [0], end = [{ew}]);\n");
            g += "  e3 = tract_core_downsample(cw, axis = 3, stride = 2, modulo = 0);\n";
            g += "  o3 = tract_core_downsample(cw, axis = 3, stride = 2, modulo = 1);\n";
            g += "  m3 = max(e3, o3);\n";
            g += &format!("  ch = slice(m3, axes = [2], begin = [0], end = [{eh}]);\n");
            g += "  e2 = tract_core_downsample(ch, axis = 2, stride = 2, modulo = 0);\n";
            g += "  o2 = tract_core_downsample(ch, axis = 2, stride = 2, modulo = 1);\n";
            g += "  output = max(e2, o2);\n}\n";
        } else {
            g += &format!("  output = {last};\n}}\n");
        }
        let tensors = [
            ("f", vec![cout, cin_per_group, k, k], filter),
            ("b", vec![cout], bias),
        ];
        let input = random(&mut rng, h * w * c);
        agree(&format!("case {case}"), &g, &tensors, &[1, h, w, c], &input);
    }
}

/// Matrix products of random sizes (partial tiles in both directions), transposed either
/// side, with a per-row bias; PReLU as the models write it; softmax and sigmoid.
#[test]
fn products_and_activations_agree_with_tract() {
    let mut rng = TestRng(0xab1e);
    for case in 0..40 {
        let (m, k, n) = (1 + rng.below(20), 1 + rng.below(40), 1 + rng.below(30));
        let ta = rng.below(2) == 1;
        let tb = rng.below(2) == 1;
        // input: [1, k, n] (or its transpose), weights [1, m, k] (or transposed).
        let in_shape = if tb { [1, n, k] } else { [1, k, n] };
        let w_shape = if ta { [1, k, m] } else { [1, m, k] };
        let weights = random(&mut rng, m * k);
        let bias = random(&mut rng, m);
        let slope = random(&mut rng, m);
        let mut g = String::from(header());
        g += &format!("  input = external(shape = {in_shape:?});\n");
        g += &format!("  w = variable<scalar>(label = \"w\", shape = {w_shape:?});\n");
        g += &format!("  bias = variable<scalar>(label = \"bias\", shape = [1, {m}, 1]);\n");
        g += &format!("  slope = variable<scalar>(label = \"slope\", shape = [1, {m}, 1]);\n");
        g += &format!("  p = matmul(w, input, transposeA = {ta}, transposeB = {tb});\n");
        g += "  q = add(p, bias);\n";
        g += "  zero = 0.0;\n  mn = min(q, zero);\n  ml = mul(mn, slope);\n  pr = add(q, ml);\n";
        g += &match rng.below(3) {
            0 => "  output = softmax(pr, axes = [1]);\n}\n".to_string(),
            1 => "  output = sigmoid(pr);\n}\n".to_string(),
            _ => "  output = pr;\n}\n".to_string(),
        };
        let tensors = [
            ("w", w_shape.to_vec(), weights),
            ("bias", vec![1, m, 1], bias),
            ("slope", vec![1, m, 1], slope),
        ];
        let input = random(&mut rng, k * n);
        agree(
            &format!("case {case} ({m}×{k}×{n}, tA {ta}, tB {tb})"),
            &g,
            &tensors,
            &in_shape,
            &input,
        );
    }
}

/// Damaged graphs of a real model — a byte changed, a line dropped, a number altered — are
/// read or refused with an error; nothing panics, and what builds runs.
#[test]
fn damaged_graphs_are_refused_without_panicking() {
    let kind = ModelKind::FaceDetector;
    let bytes = std::fs::read(
        root()
            .join("models")
            .join(kind.file(ModelFormat::Nnef).unwrap().name),
    )
    .unwrap();
    let mut archive = tar::Archive::new(&bytes[..]);
    let text = archive
        .entries()
        .unwrap()
        .filter_map(|e| e.ok())
        .find(|e| e.path().unwrap().ends_with("graph.nnef"))
        .map(|mut e| {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut e, &mut s).unwrap();
            s
        })
        .unwrap();
    let (_, tensors) = read_nnef_archive_for_engine(&bytes).unwrap();
    let shape = kind.input_shape();
    let input = vec![0.25f32; shape.iter().product()];
    let lines: Vec<&str> = text.lines().collect();
    let mut rng = TestRng(0xdead);
    let (mut built, mut refused) = (0, 0);
    for round in 0..400 {
        let damaged = match round % 3 {
            0 => {
                let mut b = text.clone().into_bytes();
                let at = rng.below(b.len());
                b[at] = b"0123456789-,;()[]=x "[rng.below(20)];
                String::from_utf8_lossy(&b).into_owned()
            }
            1 => {
                let drop = rng.below(lines.len());
                lines
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| *i != drop)
                    .map(|(_, l)| *l)
                    .collect::<Vec<_>>()
                    .join("\n")
            }
            _ => {
                // One number replaced by another, possibly absurd.
                let numbers: Vec<usize> = text
                    .match_indices(|c: char| c.is_ascii_digit())
                    .map(|(i, _)| i)
                    .collect();
                let at = numbers[rng.below(numbers.len())];
                let with = ["0", "7", "-1", "99999999999", "1e30"][rng.below(5)];
                format!("{}{}{}", &text[..at], with, &text[at + 1..])
            }
        };
        let Outcome::Read(doc) = read_document(&damaged) else {
            continue;
        };
        match Engine::build(&doc, &tensors, &shape) {
            Ok(engine) => {
                built += 1;
                // A graph that builds runs (a changed constant still makes a valid model).
                engine.run(&input).expect("a built engine runs");
            }
            Err(e) => {
                refused += 1;
                assert!(!e.is_empty());
            }
        }
    }
    assert!(
        refused > 50,
        "only {refused} damaged graphs refused ({built} built)"
    );
}

/// Clamps fused into a product keep their order: `max(min(x, 0.5), 2)` is 2 everywhere,
/// which a fused `[2, 0.5]` clamp would not give; `min(max(x, -0.5), 0.25)` fuses.
#[test]
fn clamps_fuse_only_where_order_does_not_matter() {
    let mut rng = TestRng(0xc1a4);
    for (first, second) in [
        ("min(y, 0.5)", "max(a, 2.0)"),
        ("max(y, -0.5)", "min(a, 0.25)"),
    ] {
        let mut g = String::from(header());
        g += "  input = external(shape = [1, 3, 5, 2]);\n";
        g += "  x = transpose(input, axes = [0, 3, 1, 2]);\n";
        g += "  f = variable<scalar>(label = \"f\", shape = [4, 2, 1, 1]);\n";
        g += "  b = variable<scalar>(label = \"b\", shape = [4]);\n";
        g += "  y = conv(x, f, b, dilation = [1, 1], stride = [1, 1], border = \"constant\", groups = 1, padding = [(0, 0), (0, 0)]);\n";
        g += &format!("  a = {first};\n  output = {second};\n}}\n");
        let tensors = [
            ("f", vec![4, 2, 1, 1], random(&mut rng, 8)),
            ("b", vec![4], random(&mut rng, 4)),
        ];
        let input = random(&mut rng, 30);
        agree(
            &format!("{first} then {second}"),
            &g,
            &tensors,
            &[1, 3, 5, 2],
            &input,
        );
    }
}
