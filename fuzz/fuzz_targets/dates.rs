//! Fuzz target: notBefore, validities and token expiry near the bounds certificates and the time crate
//! can hold, through validate + render (hardway::fuzz_dates). Run: make fuzz FUZZ_TARGET=dates.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    hardway::fuzz_dates(data);
});
