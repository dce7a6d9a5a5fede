//! Async WinRM transport on reqwest, rustls and tokio
