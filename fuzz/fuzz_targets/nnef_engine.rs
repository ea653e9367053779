//! liveform's inference engine (`liveform::model::engine`) on arbitrary graph text: a graph
//! it builds, it runs; one it cannot, it refuses with an error. Nothing panics, whatever the
//! shapes, attributes or constants (the graphs carry their weights as literals: no tensor
//! files). Input shape [1, 4, 4, 2], as the seeds' `external` declares.
#![no_main]

use libfuzzer_sys::fuzz_target;
use liveform::model::engine::Engine;
use liveform::model::nnef_text::{read_document, Outcome};

fuzz_target!(|data: &[u8]| {
    if data.len() > 8192 {
        return;
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Outcome::Read(doc) = read_document(text) {
        let shape = [1, 4, 4, 2];
        if let Ok(engine) = Engine::build(&doc, &Default::default(), &shape) {
            let input: Vec<f32> = (0..32).map(|i| i as f32 / 7.0 - 2.0).collect();
            let outputs = engine.run(&input).expect("a built engine runs its input");
            assert_eq!(outputs.len(), engine.output_shapes().len());
        }
    }
});
