//! Any bytes through the processor's validate-and-decode path: it must refuse or render,
//! never crash, hang or allocate without bound. The pixel limit is lowered so that the
//! fuzzer's time goes to parsing, not to resizing legitimately large images.
#![no_main]

use catalog_images::{Limits, render};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = render(data, Limits { max_pixels: 4_000_000 });
});
