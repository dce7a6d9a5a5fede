//! Fuzz oracles: each feeds arbitrary bytes to one parser and must never panic.
//! Called by the cargo-fuzz targets and by the crate's proptests.

use crate::error::Limits;

fn limits() -> Limits {
    Limits {
        max_bytes: 1 << 20,
        max_depth: 64,
    }
}

/// [`crate::parse_response`] on arbitrary bytes; a parsed fault's summary is rendered too.
pub fn fuzz_parse_response(data: &[u8]) {
    if let Ok(r) = crate::parse_response(data, &limits()) {
        if let crate::ResponseBody::Fault(f) = &r.body {
            let _ = f.summary();
        }
        if let crate::ResponseBody::Instance(i) = r.body {
            if let Ok(m) = crate::MethodOutput::from_instance(i) {
                let _ = m.job_instance_id();
            }
        }
    }
}

/// [`crate::parse_request`] on arbitrary bytes.
pub fn fuzz_parse_request(data: &[u8]) {
    let _ = crate::parse_request(data, &limits());
}

/// [`crate::cimxml::parse_instance`] on arbitrary bytes (as lossy UTF-8), then a re-write.
pub fn fuzz_cimxml(data: &[u8]) {
    let s = String::from_utf8_lossy(data);
    if let Ok(i) = crate::cimxml::parse_instance(&s, &limits()) {
        let _ = crate::cimxml::write_instance(&i);
    }
}
