//! The json store: any bytes parse or are refused without a panic, and parse → emit → parse is equal.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sealsync_sops::sops::stores::Format;

fuzz_target!(|data: &[u8]| sealsync_fuzz::round_trip(Format::Json, data));
