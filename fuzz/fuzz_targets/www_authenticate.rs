//! `WWW-Authenticate` header values (schemes, token68, quoted parameters).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| winrm_auth::fuzzing::www_authenticate(data));
