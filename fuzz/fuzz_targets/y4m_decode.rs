//! `.y4m` videos given to `liveform check --video`: typed errors, never more frames than
//! asked for, and every frame of the stated size.
#![no_main]

use libfuzzer_sys::fuzz_target;
use liveform::y4m;

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = y4m::decode(data, 4) {
        assert!(v.frames.len() <= 4);
        assert!(v.fps.is_finite() && v.fps > 0.0, "fps {}", v.fps);
        for f in &v.frames {
            assert_eq!(f.rgba.len(), f.width as usize * f.height as usize * 4);
        }
    }
});
