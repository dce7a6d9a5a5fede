//! DSP0201 CIM-XML `<INSTANCE>` text (embedded instances, `Msvm_Error`), parsed then re-written.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| wsman_soap::fuzzing::fuzz_cimxml(data));
