//! NTLM CHALLENGE_MESSAGE from the server ([MS-NLMP 2.2.1.2]), then the client's AUTHENTICATE.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| winrm_auth::fuzzing::ntlm_challenge(data));
