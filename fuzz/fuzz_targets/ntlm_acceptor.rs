//! NTLM NEGOTIATE/AUTHENTICATE from a client, read by the acceptor the simulator runs.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| winrm_auth::fuzzing::ntlm_acceptor(data));
