#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod cim;
pub mod cimxml;
pub mod epr;
mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod ns;
pub mod request;
pub mod response;
pub mod server;
mod wsxml;
mod xml;

pub use cim::{CimDateTime, CimType, Instance, Property, Scalar, Value};
pub use epr::{class_of, wmi_all_classes_uri, wmi_resource_uri, Epr, SelectorSet};
pub use error::{Error, Limits};
pub use request::{
    enumerate, get, identify, invoke, pull, put, release, AssociationFilter, AssociationKind, Enumerate,
    EnumerationMode, Filter, RequestHeader,
};
pub use response::{
    parse_response, EnumerationPage, ExtendedStatus, Fault, IdentifyResponse, Item, KnownFault, MethodOutput,
    ProviderFault, Response, ResponseBody, ResponseHeader, WmiError, MAX_FAULT_DETAILS,
};
pub use server::{
    parse_request, response_action, write_response, write_response_in, ParsedHeader, Request, RequestBody,
};
