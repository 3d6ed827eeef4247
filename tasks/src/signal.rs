//! The signals that ask a process to stop, for every command that runs until told to.

/// Waits for SIGINT (Ctrl-C) or SIGTERM (an operator, systemd); returns its name, for the
/// log. Where SIGTERM cannot be listened for, SIGINT alone.
pub async fn shutdown_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => return "SIGINT",
                _ = term.recv() => return "SIGTERM",
            }
        }
    }
    let _ = tokio::signal::ctrl_c().await;
    "SIGINT"
}
