//! `multipart/encrypted` WinRM body framing ([MS-WSMV 2.2.9.1]).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| winrm_auth::fuzzing::framing_decode(data));
