//! Image decoding of uploaded frames (JPEG, PNG): typed errors, and a decoded frame has sides
//! within the limits and exactly width × height RGBA pixels.
#![no_main]

use libfuzzer_sys::fuzz_target;
use liveform::frame::{Frame, MAX_SIDE};

fuzz_target!(|data: &[u8]| {
    if let Ok(f) = Frame::decode(data) {
        assert!((1..=MAX_SIDE).contains(&f.width) && (1..=MAX_SIDE).contains(&f.height));
        assert_eq!(f.rgba.len(), f.width as usize * f.height as usize * 4);
    }
});
