//! Sans-IO WS-Management (WinRM) messages: SOAP envelope builders, the CIM value model,
//! endpoint references, CIM-XML embedded instances, and parsers for responses and faults.
//!
//! This crate does no I/O and reads no clock, random number generator or hostname: the caller
//! passes MessageIDs and times in, so the same inputs always give the same bytes.
#![forbid(unsafe_code)]

pub mod cim;
pub mod epr;
pub mod ns;

pub use cim::{CimDateTime, CimType, Instance, Property, Scalar, Value};
pub use epr::{Epr, SelectorSet};
