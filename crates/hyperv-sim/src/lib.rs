//! Simulated Hyper-V host over real WinRM (NTLM + message encryption)
