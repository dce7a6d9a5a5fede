//! Hyper-V domain model and replication workflow over WS-Management
