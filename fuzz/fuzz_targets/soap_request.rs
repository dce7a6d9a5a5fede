//! Server-side request parsing (what the simulator reads from a client).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| wsman_soap::fuzzing::fuzz_parse_request(data));
