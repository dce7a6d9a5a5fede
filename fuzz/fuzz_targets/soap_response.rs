//! SOAP response envelopes: faults, Identify, Get/Invoke output, Enumerate/Pull pages and items.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| wsman_soap::fuzzing::fuzz_parse_response(data));
