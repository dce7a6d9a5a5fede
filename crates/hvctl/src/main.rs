//! hvctl: Hyper-V replication and WS-Management from Linux and macOS.

fn main() {}
