//! A real headless Chromium, driven over WebDriver (chromedriver, through fantoccini), for
//! the explorer's browser tests: pages load as a person's browser loads them.
//!
//! Debian's `chromium` and `chromium-driver` packages provide both programs;
//! `./scripts/ensure-deps` installs them. `TERN_CHROMIUM` and `TERN_CHROMEDRIVER` name
//! others.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::wd::{Capabilities, WebDriverCompatibleCommand};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

/// How long a page may take to show what the node says. Generous: the machine runs
/// other tests at once.
pub(crate) const PAGE_PATIENCE: Duration = Duration::from_secs(20);

/// How long chromedriver may take to say where it listens.
const DRIVER_PATIENCE: Duration = Duration::from_secs(30);

/// A browser session and the driver process behind it, closed and killed on drop.
pub(crate) struct Browser {
    pub(crate) client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

fn program(env: &str, default: &str) -> String {
    std::env::var(env).unwrap_or_else(|_| default.to_owned())
}

/// Starts chromedriver on a port of the system's choosing and returns it with that port.
fn start_driver() -> (Child, u16) {
    let driver = program("TERN_CHROMEDRIVER", "chromedriver");
    let mut child = Command::new(&driver)
        .arg("--port=0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot start {driver} ({e}): run ./scripts/ensure-deps, which installs Debian's chromium-driver")
        });
    let stdout = child.stdout.take().unwrap();
    let (send, receive) = std::sync::mpsc::channel();
    // Read to the end, so that the driver never blocks on a full pipe.
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(port) = line
                .split("started successfully on port ")
                .nth(1)
                .and_then(|rest| rest.trim_end_matches('.').parse::<u16>().ok())
            {
                let _ = send.send(port);
            }
        }
    });
    let port = receive
        .recv_timeout(DRIVER_PATIENCE)
        .expect("chromedriver did not say where it listens");
    (child, port)
}

impl Browser {
    /// A fresh headless Chromium with an empty profile, its console collected.
    pub(crate) async fn start() -> Browser {
        let (driver, port) = start_driver();
        let profile = tempfile::tempdir().unwrap();
        let mut capabilities = Capabilities::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": program("TERN_CHROMIUM", "/usr/bin/chromium"),
                // Without the background-networking flags, Chromium reaches for Google's
                // hosts at every start, which a closed network refuses.
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }),
        );
        capabilities.insert("goog:loggingPrefs".into(), json!({ "browser": "ALL" }));
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .unwrap();
        Browser {
            client,
            driver,
            _profile: profile,
        }
    }

    /// Saves a screenshot as `<name>.png` in the tests' output directory, for a reviewer.
    pub(crate) async fn screenshot(&self, name: &str) -> PathBuf {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("explorer-screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, self.client.screenshot().await.unwrap()).unwrap();
        eprintln!("screenshot: {}", path.display());
        path
    }

    /// What the page's own error buffer (`errors.js`) collected.
    pub(crate) async fn page_errors(&self) -> Vec<String> {
        let errors = self
            .client
            .execute(
                "return window.ternErrors || ['errors.js did not run'];",
                vec![],
            )
            .await
            .unwrap();
        serde_json::from_value(errors).unwrap()
    }

    /// The browser log's warnings and errors since the last read (Chromium's own view:
    /// failed loads, refused connections, policy violations).
    pub(crate) async fn log_problems(&self) -> Vec<String> {
        let entries = self.client.issue_cmd(BrowserLog).await.unwrap();
        entries
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| matches!(e["level"].as_str(), Some("SEVERE" | "WARNING")))
            .map(|e| e["message"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// Closes the session, then the driver.
    pub(crate) async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Chromium goes with its driver's session; the driver must not outlive the test.
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Waits until the element `css` shows text for which `done` holds; that text.
pub(crate) async fn wait_for_text(
    browser: &Browser,
    css: &str,
    patience: Duration,
    done: impl Fn(&str) -> bool,
) -> String {
    let deadline = tokio::time::Instant::now() + patience;
    let mut last = String::new();
    while tokio::time::Instant::now() < deadline {
        if let Ok(element) = browser.client.find(Locator::Css(css)).await {
            if let Ok(text) = element.text().await {
                if done(&text) {
                    return text;
                }
                last = text;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{css} never showed what was expected within {patience:?}; it showed {last:?}");
}

/// chromedriver's log endpoint (not in the W3C standard, so not in fantoccini).
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/se/log",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(json!({ "type": "browser" }).to_string()),
        )
    }
}
