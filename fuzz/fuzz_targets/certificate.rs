//! Server certificate DER, read for the channel-binding hash algorithm (our own DER reader).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| winrm_auth::fuzzing::certificate(data));
