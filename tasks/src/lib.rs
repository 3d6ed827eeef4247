//! # tern-tasks
//!
//! The node's task tree: every task and thread the node starts is spawned through a
//! [`TaskExecutor`], and the [`TaskManager`] that owns them all joins them at shutdown.
//! Every other crate that starts work of its own (the mempool's admission threads, the
//! network's tasks) takes an executor, so that nothing runs that the node cannot see,
//! join, or name when it fails. It owns the [`fault`] points tests use to make a part
//! panic on purpose, and [`shutdown_signal`], the signals that ask a process to stop. It
//! knows nothing of chains, peers or pools.
//!
//! Two kinds of task (the pattern of reth's `crates/tasks`):
//!
//! - **Critical** ([`TaskExecutor::spawn_critical`], [`TaskExecutor::spawn_critical_thread`]):
//!   the chain actor's thread, the network manager, the mempool follower, the miner, the
//!   RPC server's accept loop, the metrics listener. The node cannot do its job without any one of
//!   them, so one that panics, fails, or simply ends before shutdown began is a
//!   [`CriticalFailure`].
//! - **Tracked** ([`TaskExecutor::spawn`], [`TaskExecutor::spawn_blocking`]): peer
//!   connections, RPC connections and WebSocket calls, admission workers, nonce-search
//!   threads. They end whenever their work
//!   does; only a panic is a failure, since a panic anywhere is a bug that leaves state
//!   nobody can vouch for.
//!
//! The first failure is logged once, naming the task and the cause, and published on
//! [`Health`]: `/healthy`, `/ready` and `node_health` report it at once, and
//! `tern node`, which waits on [`Health::failed`] beside the signals, stops the node in
//! order and exits non-zero. Shutdown never sleeps or times out in place of ownership:
//! [`TaskManager::wait`] returns when every task and thread has ended.

pub mod fault;
mod signal;

pub use signal::shutdown_signal;

use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures_util::FutureExt;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The text of a panic's payload (a `&str` or a `String`, as `panic!` makes them).
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        return (*text).to_owned();
    }
    if let Some(text) = payload.downcast_ref::<String>() {
        return text.clone();
    }
    "(no message)".into()
}

/// Why a task took the node down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailureCause {
    /// It panicked, with this message.
    Panicked(String),
    /// A critical task returned an error.
    Failed(String),
    /// A critical task ended before shutdown began.
    Exited,
}

impl fmt::Display for FailureCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailureCause::Panicked(message) => write!(f, "panicked: {message}"),
            FailureCause::Failed(error) => write!(f, "failed: {error}"),
            FailureCause::Exited => f.write_str("exited unexpectedly"),
        }
    }
}

/// A task whose end takes the node down.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{task} {cause}")]
pub struct CriticalFailure {
    /// The task's name, as it appears in logs.
    pub task: &'static str,
    /// What happened.
    pub cause: FailureCause,
}

/// How a critical thread failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ThreadFailure {
    /// With this error.
    Error(String),
    /// In a way it already reported with [`TaskExecutor::fail`], before anything could
    /// see it stop.
    Reported,
}

/// What a task's output says about how it ended.
pub trait TaskOutcome {
    /// The error it ended with, if any.
    fn error(self) -> Option<String>;
}

impl TaskOutcome for () {
    fn error(self) -> Option<String> {
        None
    }
}

impl<E: fmt::Display> TaskOutcome for Result<(), E> {
    fn error(self) -> Option<String> {
        self.err().map(|e| e.to_string())
    }
}

/// Whether the node is healthy; cheap to clone. Read by the health endpoints and RPC.
#[derive(Debug, Clone)]
pub struct Health {
    failure: watch::Receiver<Option<Arc<CriticalFailure>>>,
}

impl Health {
    /// The failure that is taking the node down, if one has happened.
    pub fn failure(&self) -> Option<Arc<CriticalFailure>> {
        self.failure.borrow().clone()
    }

    /// Resolves on the first critical failure (at once if one has happened).
    pub async fn failed(&self) -> Arc<CriticalFailure> {
        let mut failure = self.failure.clone();
        loop {
            if let Some(failure) = failure.borrow_and_update().clone() {
                return failure;
            }
            if failure.changed().await.is_err() {
                // The task manager is gone, so nothing can fail any more.
                return std::future::pending().await;
            }
        }
    }
}

#[derive(Debug)]
struct Shared {
    tracker: TaskTracker,
    /// Cancelled when shutdown begins: critical tasks ending after it are expected.
    stopping: CancellationToken,
    failure: watch::Sender<Option<Arc<CriticalFailure>>>,
}

/// Spawns the node's tasks; cheap to clone, handed to every part that starts tasks.
#[derive(Debug, Clone)]
pub struct TaskExecutor {
    shared: Arc<Shared>,
}

impl TaskExecutor {
    /// Spawns a task the node cannot run without.
    pub fn spawn_critical<F>(&self, name: &'static str, task: F) -> JoinHandle<()>
    where
        F: Future + Send + 'static,
        F::Output: TaskOutcome,
    {
        let executor = self.clone();
        self.shared.tracker.spawn(async move {
            let ended = AssertUnwindSafe(task).catch_unwind().await;
            executor.ended(name, true, ended.map(TaskOutcome::error));
        })
    }

    /// Spawns a task that may end at any time; only a panic is a failure.
    pub fn spawn<F>(&self, name: &'static str, task: F) -> JoinHandle<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let executor = self.clone();
        self.shared.tracker.spawn(async move {
            let ended = AssertUnwindSafe(task).catch_unwind().await;
            executor.ended(name, false, ended.map(|()| None));
        })
    }

    /// [`Self::spawn`] for a task whose output its spawner waits for: the handle yields
    /// the output, or `None` if the task panicked (a failure, as for any task).
    pub fn spawn_with_output<F>(&self, name: &'static str, task: F) -> JoinHandle<Option<F::Output>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let executor = self.clone();
        self.shared.tracker.spawn(async move {
            match AssertUnwindSafe(task).catch_unwind().await {
                Ok(output) => Some(output),
                Err(panic) => {
                    executor.ended(name, false, Err(panic));
                    None
                }
            }
        })
    }

    /// Runs blocking work on tokio's blocking pool, tracked like [`Self::spawn`].
    pub fn spawn_blocking<F, T>(&self, name: &'static str, work: F) -> JoinHandle<Option<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let executor = self.clone();
        self.shared.tracker.spawn_blocking(move || {
            let ended = std::panic::catch_unwind(AssertUnwindSafe(work));
            match ended {
                Ok(value) => Some(value),
                Err(panic) => {
                    executor.ended(name, false, Err(panic));
                    None
                }
            }
        })
    }

    /// Runs `work` on an OS thread of its own named `name`, supervised like a critical
    /// task: for the chain actor, whose every step blocks.
    pub fn spawn_critical_thread<F>(&self, name: &'static str, work: F) -> std::io::Result<()>
    where
        F: FnOnce() -> Result<(), ThreadFailure> + Send + 'static,
    {
        let executor = self.clone();
        // Keeps `TaskManager::wait` waiting until the thread has ended.
        let token = self.shared.tracker.token();
        std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                match std::panic::catch_unwind(AssertUnwindSafe(work)) {
                    Ok(Ok(())) => executor.ended(name, true, Ok(None)),
                    Ok(Err(ThreadFailure::Error(error))) => {
                        executor.ended(name, true, Ok(Some(error)));
                    }
                    Ok(Err(ThreadFailure::Reported)) => {}
                    Err(panic) => executor.ended(name, true, Err(panic)),
                }
                drop(token);
            })
            .map(drop)
    }

    /// The node's health, as this executor's tasks decide it.
    pub fn health(&self) -> Health {
        Health {
            failure: self.shared.failure.subscribe(),
        }
    }

    /// Whether shutdown has begun.
    pub fn is_stopping(&self) -> bool {
        self.shared.stopping.is_cancelled()
    }

    /// Records how a task ended; a failure is logged and, if it is the first, published.
    fn ended(
        &self,
        task: &'static str,
        critical: bool,
        ended: Result<Option<String>, Box<dyn std::any::Any + Send>>,
    ) {
        let cause = match ended {
            Err(panic) => FailureCause::Panicked(panic_message(&*panic)),
            Ok(Some(error)) if critical => FailureCause::Failed(error),
            Ok(Some(error)) => {
                tracing::warn!(task, %error, "task ended with an error");
                return;
            }
            Ok(None) if critical && !self.is_stopping() => FailureCause::Exited,
            Ok(None) => {
                tracing::debug!(task, "task ended");
                return;
            }
        };
        self.fail(task, cause);
    }

    /// Records that `task` failed with `cause`: the first failure is published and logged
    /// as the node's; later ones are logged as consequences.
    pub fn fail(&self, task: &'static str, cause: FailureCause) {
        let failure = Arc::new(CriticalFailure { task, cause });
        let first = self.shared.failure.send_if_modified(|current| {
            if current.is_some() {
                return false;
            }
            *current = Some(Arc::clone(&failure));
            true
        });
        if first {
            tracing::error!(task, cause = %failure.cause, "critical failure: the node stops");
        } else {
            tracing::warn!(task, cause = %failure.cause, "another task failed while the node stops");
        }
    }
}

/// Owns every task of one node.
#[derive(Debug)]
pub struct TaskManager {
    executor: TaskExecutor,
}

impl Default for TaskManager {
    fn default() -> Self {
        TaskManager::new()
    }
}

impl TaskManager {
    /// A manager with no tasks yet.
    pub fn new() -> TaskManager {
        TaskManager {
            executor: TaskExecutor {
                shared: Arc::new(Shared {
                    tracker: TaskTracker::new(),
                    stopping: CancellationToken::new(),
                    failure: watch::Sender::new(None),
                }),
            },
        }
    }

    /// What the node's parts spawn their tasks with.
    pub fn executor(&self) -> &TaskExecutor {
        &self.executor
    }

    /// Marks the start of shutdown: from now on, a critical task that ends is expected.
    pub fn begin_shutdown(&self) {
        self.executor.shared.stopping.cancel();
    }

    /// How many tasks and threads are still running.
    pub fn running(&self) -> usize {
        self.executor.shared.tracker.len()
    }

    /// Waits until every task and thread has ended. New tasks can no longer be awaited
    /// after this starts, so call it once the parts have been told to stop.
    pub async fn wait(&self) {
        let tracker = &self.executor.shared.tracker;
        tracker.close();
        tracker.wait().await;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use super::*;

    #[tokio::test]
    async fn a_panicking_task_is_a_failure_named_after_it() {
        let tasks = TaskManager::new();
        let health = tasks.executor().health();
        tasks.executor().spawn("peer", async { panic!("boom") });
        let failure = health.failed().await;
        assert_eq!(failure.task, "peer");
        assert_eq!(failure.cause, FailureCause::Panicked("boom".into()));
        tasks.wait().await;
    }

    #[tokio::test]
    async fn a_critical_task_that_ends_early_is_a_failure_but_not_after_shutdown() {
        let tasks = TaskManager::new();
        let health = tasks.executor().health();
        tasks.executor().spawn_critical("miner", async {});
        assert_eq!(health.failed().await.cause, FailureCause::Exited);

        let tasks = TaskManager::new();
        let health = tasks.executor().health();
        tasks.begin_shutdown();
        tasks.executor().spawn_critical("miner", async {});
        tasks.executor().spawn("peer", async {});
        tasks.wait().await;
        assert!(health.failure().is_none());
    }

    #[tokio::test]
    async fn a_critical_thread_error_is_reported_and_the_thread_is_joined() {
        let tasks = TaskManager::new();
        let health = tasks.executor().health();
        tasks
            .executor()
            .spawn_critical_thread("chain", || {
                Err(ThreadFailure::Error("no space left on device".into()))
            })
            .unwrap();
        tasks.wait().await;
        assert_eq!(
            health.failure().unwrap().to_string(),
            "chain failed: no space left on device"
        );
        assert_eq!(tasks.running(), 0);
    }

    #[tokio::test]
    async fn only_the_first_failure_is_published() {
        let tasks = TaskManager::new();
        let health = tasks.executor().health();
        tasks
            .executor()
            .spawn_critical_thread("chain", || panic!("first"))
            .unwrap();
        assert_eq!(health.failed().await.task, "chain");
        tasks.executor().spawn("peer", async { panic!("second") });
        tasks.wait().await;
        assert_eq!(health.failure().unwrap().task, "chain");
    }
}
