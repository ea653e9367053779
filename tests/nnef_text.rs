//! The fast NNEF text reader (`liveform::model::nnef_text`): whatever it reads, tract's
//! parser reads the same way; what it cannot read it hands back; absurd nesting is refused.
//! The same property over arbitrary bytes is the `nnef_text` fuzz target.
#![cfg(not(target_arch = "wasm32"))]

#[path = "common/rng.rs"]
mod rng;

use liveform::model::nnef_text::{read_document, Outcome, MAX_DEPTH};
use rng::TestRng;
use tract_nnef::ast::parse::parse_document;

/// `Read` implies tract gives the same document. Returns whether it was read.
fn agrees(text: &str) -> bool {
    match read_document(text) {
        Outcome::Read(doc) => {
            let theirs = parse_document(text)
                .unwrap_or_else(|e| panic!("read here, refused by tract ({e}):\n{text}"));
            assert_eq!(
                tract_nnef::ast::Document::from(*doc),
                theirs,
                "documents differ for:\n{text}"
            );
            true
        }
        Outcome::Unsupported | Outcome::TooDeep => false,
    }
}

fn doc(body: &str) -> String {
    format!("version 1.0;\nextension tract_registry tract_core;\ngraph g(input) -> (out) {{\n{body}\n}}\n")
}

#[test]
fn reads_what_tracts_writer_writes() {
    let text = doc(r#"
  input = external(shape = [1, 128, 128, 3]);
  w = variable<scalar>(label = "model/conv.0", shape = [24, 3, 5, 5]);
  c = conv(input, w, 0.0, dilation = [1, 1], stride = [2, 2], border = "constant", groups = 1, padding = [(1, 2), (1, 2)]);
  k = [[[[0.0]]]];
  m = max(c, k);
  x = tract_core_downsample(m, axis = 2, stride = -2, modulo = 0);
  (a, b) = split(x, axis = 1, ratios = [1, 1]);
  [p, q] = pair(a);
  out = add(a, 1e-5, -inf, 3., 1.5E+3, true, false, i"odd name", "esc\"aped", 'single');
"#);
    let with_fragment = text.replace(
        "graph g",
        "fragment tract_core_properties(\n) -> (properties: (string, tensor<scalar>)[])\n{\n  properties = [(\"a\", tract_core_cast(7, to = \"i64\")), (\"b\", \"1.17.0 None\")];\n}\n\nfragment f<? = scalar>(x: tensor<?>, n: integer = 2, l: logical[] = [true, false], t: (scalar, string) = (1.0, 'x')) -> (y: tensor<?>);\ngraph g",
    );
    for t in [&text, &with_fragment] {
        assert!(agrees(t), "not read:\n{t}");
    }
    // Comments and spacing anywhere tract allows them.
    let spaced = with_fragment
        .replace(", ", " ,\t# note\n ")
        .replace(" = ", "=");
    assert!(agrees(&spaced));
}

#[test]
fn hands_back_what_it_does_not_read() {
    for body in [
        "out = add(a, b) + 1;",        // operators
        "out = a[1:2];",               // subscripts
        "out = [for i in x yield i];", // comprehensions
        "out = a if c else b;",        // conditionals
        "out = -x;",                   // unary minus on a name
        "out = f(trueish);",           // tract reads `true` then `ish`
        "out = f(info);",              // … and `inf` then `o`
        "out = f(( ));",               // tract refuses `( )` (but not `()`)
        "out = f([ ]);",
        "out = f(1abc);",
        "out = f(a == b);",
    ] {
        let text = doc(body);
        assert!(
            matches!(read_document(&text), Outcome::Unsupported),
            "should be handed back: {body}"
        );
    }
    // Empty lists as tract reads them.
    assert!(agrees(&doc("out = f((), [], g());")));
}

#[test]
fn refuses_absurd_nesting() {
    let deep = format!(
        "{}1{}",
        "[".repeat(MAX_DEPTH + 1),
        "]".repeat(MAX_DEPTH + 1)
    );
    assert!(matches!(
        read_document(&doc(&format!("out = {deep};"))),
        Outcome::TooDeep
    ));
    let fine = format!("{}1{}", "[".repeat(8), "]".repeat(8));
    assert!(agrees(&doc(&format!("out = {fine};"))));
}

/// Random documents in and around the subset, then random edits of them: every one the
/// reader accepts, tract reads the same.
#[test]
fn random_documents_and_edits_agree_with_tract() {
    let mut rng = TestRng(0x6e6e_6566);
    let (mut read, mut edited_read) = (0, 0);
    let total = 1500;
    for case in 0..total {
        let mut text = random_document(&mut rng);
        let edited = case % 2 == 1;
        if edited {
            mutate(&mut rng, &mut text);
        }
        if agrees(&text) {
            read += usize::from(!edited);
            edited_read += usize::from(edited);
        }
    }
    // The generator stays in the subset, so untouched documents are read; some edits keep
    // a document readable (those are compared too).
    assert!(
        read > total / 2 * 8 / 10,
        "only {read} of {} untouched read",
        total / 2
    );
    assert!(edited_read > 0, "no edited document was read");
}

const SPACES: [&str; 6] = ["", " ", "  ", "\n", "\t", " # c\n"];

fn space(rng: &mut TestRng) -> &'static str {
    SPACES[rng.below(SPACES.len())]
}

fn random_value(rng: &mut TestRng, depth: usize) -> String {
    let leaf = depth > 3 || rng.below(3) == 0;
    let s = space(rng);
    if leaf {
        return match rng.below(9) {
            0 => format!("{}", rng.below(1000)),
            1 => format!("-{}.{}", rng.below(10), rng.below(100)),
            2 => format!("{}e-{}", rng.below(9), rng.below(9)),
            3 => ["true", "false", "inf", "-inf"][rng.below(4)].to_string(),
            4 => format!("\"s{}\"", rng.below(10)),
            5 => format!("'q\\'{}'", rng.below(10)),
            6 => format!("x_{}", rng.below(10)),
            7 => "i\"a b\"".to_string(),
            _ => "()".to_string(),
        };
    }
    let n = rng.below(4);
    let items: Vec<String> = (0..n).map(|_| random_value(rng, depth + 1)).collect();
    let sep = format!("{s},{}", space(rng));
    match rng.below(4) {
        0 => format!("[{}]", items.join(&sep)),
        // (`( )` is refused by tract: only `()` is an empty tuple.)
        1 if n == 0 => "()".to_string(),
        1 => format!("({}{s})", items.join(&sep)),
        2 => {
            let args: Vec<String> = items
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    if i % 2 == 1 {
                        format!("k{i}{s}={s}{v}")
                    } else {
                        v.clone()
                    }
                })
                .collect();
            format!(
                "op{}{s}({})",
                ["", "<scalar>", "<?>"][rng.below(3)],
                args.join(&sep)
            )
        }
        _ => format!("f_{}({})", rng.below(5), items.join(&sep)),
    }
}

fn random_document(rng: &mut TestRng) -> String {
    let mut body = String::new();
    for i in 0..1 + rng.below(4) {
        let left = match rng.below(4) {
            0 => format!("(a{i}, b{i})"),
            1 => format!("[a{i}]"),
            _ => format!("v{i}"),
        };
        body += &format!(
            "{}{left}{} ={}{};\n",
            space(rng),
            space(rng),
            space(rng),
            random_value(rng, 0)
        );
    }
    doc(&body)
}

const INSERTS: [&str; 16] = [
    "(", ")", "[", "]", ",", ";", "=", "-", "+", "#", "\"", "'", " ", "in", "if", "1",
];

fn mutate(rng: &mut TestRng, text: &mut String) {
    for _ in 0..1 + rng.below(3) {
        let mut at = rng.below(text.len() + 1);
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        if rng.below(2) == 0 && at < text.len() {
            let mut end = at + 1;
            while !text.is_char_boundary(end) {
                end += 1;
            }
            text.replace_range(at..end, "");
        } else {
            text.insert_str(at, INSERTS[rng.below(INSERTS.len())]);
        }
    }
}
