//! Fuzz target: arbitrary bytes through parse + validate + render (hardway::fuzz_one). Run: make fuzz.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    hardway::fuzz_one(data);
});
