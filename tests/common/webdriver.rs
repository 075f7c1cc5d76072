//! A WebDriver client for the console tests: Debian's `chromedriver`
//! driving a headless `chromium` over the W3C protocol (plain HTTP and
//! JSON on 127.0.0.1).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
/// How long a wait for the page lasts.
const PATIENCE: Duration = Duration::from_secs(15);

/// A browser session, with its driver process.
pub struct Browser {
    driver: Child,
    addr: String,
    session: String,
}

/// The first of `names` found on the `PATH`.
fn which(names: &[&str]) -> Option<String> {
    let path = std::env::var_os("PATH")?;
    for name in names {
        for dir in std::env::split_paths(&path) {
            let p = dir.join(name);
            if p.is_file() {
                return Some(p.to_string_lossy().into_owned());
            }
        }
    }
    // Debian keeps the driver beside the browser's files.
    names.iter().map(|n| format!("/usr/lib/chromium/{n}")).find(|p| std::path::Path::new(p).is_file())
}

impl Browser {
    /// Starts `chromedriver` and a headless Chromium session.
    pub async fn start() -> Browser {
        let driver_bin = which(&["chromedriver", "chromium-driver"])
            .expect("chromedriver is installed (Debian's chromium-driver; .ci/run installs it)");
        let chromium = which(&["chromium", "chromium-browser", "google-chrome"])
            .expect("chromium is installed (Debian's chromium; .ci/run installs it)");
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let driver = Command::new(driver_bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let addr = format!("127.0.0.1:{port}");
        let started = Instant::now();
        loop {
            if tokio::net::TcpStream::connect(&addr).await.is_ok() {
                break;
            }
            assert!(started.elapsed() < PATIENCE, "chromedriver did not listen");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut b = Browser { driver, addr, session: String::new() };
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"],
            },
            "goog:loggingPrefs": {"browser": "ALL"},
        }}});
        let v = b.call("POST", "/session", caps).await;
        b.session = v["sessionId"].as_str().expect("a session").to_string();
        b
    }

    async fn call(&self, method: &str, path: &str, body: Value) -> Value {
        let bytes = if method == "GET" || method == "DELETE" { Vec::new() } else { body.to_string().into_bytes() };
        let headers = [("Content-Type", "application/json")];
        let a = super::http::send(&self.addr, method, path, &headers, &bytes).await;
        let v: Value = serde_json::from_slice(&a.body).unwrap_or(Value::Null);
        assert!(a.status < 300, "WebDriver {method} {path}: {} {v}", a.status);
        v["value"].clone()
    }

    fn at(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.session)
    }

    pub async fn goto(&self, url: &str) {
        self.call("POST", &self.at("/url"), json!({"url": url})).await;
    }

    /// Runs `script` in the page (its `arguments` are `args`).
    pub async fn script(&self, script: &str, args: Value) -> Value {
        self.call("POST", &self.at("/execute/sync"), json!({"script": script, "args": args})).await
    }

    /// Waits until `css` matches an element, and returns its id.
    pub async fn find(&self, css: &str) -> String {
        let started = Instant::now();
        loop {
            let found = self.script("return document.querySelector(arguments[0]) !== null", json!([css])).await;
            if found == json!(true) {
                let v = self.call("POST", &self.at("/element"), json!({"using": "css selector", "value": css})).await;
                return v[ELEMENT].as_str().unwrap_or_else(|| panic!("an element for {css}: {v}")).to_string();
            }
            assert!(started.elapsed() < PATIENCE, "no element {css} in the page");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn click(&self, css: &str) {
        let id = self.find(css).await;
        self.call("POST", &self.at(&format!("/element/{id}/click")), json!({})).await;
    }

    /// Sets the window's size (CSS pixels).
    pub async fn window(&self, width: u32, height: u32) {
        self.call("POST", &self.at("/window/rect"), json!({"width": width, "height": height})).await;
    }

    /// Waits until an element `css` whose text contains `want` is in the
    /// page, and clicks the first.
    pub async fn click_text(&self, css: &str, want: &str) {
        let started = Instant::now();
        loop {
            let clicked = self
                .script(
                    "const e = [...document.querySelectorAll(arguments[0])].find((e) => e.innerText.includes(arguments[1])); \
                     if (e) e.click(); return !!e",
                    json!([css, want]),
                )
                .await;
            if clicked == json!(true) {
                return;
            }
            assert!(started.elapsed() < PATIENCE, "no element {css} showing {want:?} in the page");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Types `text` into the field `css` (emptied first).
    pub async fn fill(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        self.call("POST", &self.at(&format!("/element/{id}/clear")), json!({})).await;
        self.call("POST", &self.at(&format!("/element/{id}/value")), json!({"text": text})).await;
    }

    /// Sets a `<select>` or `<textarea>` `css` to `value`, as a user's
    /// change does (its `change` event fires).
    pub async fn set(&self, css: &str, value: &str) {
        self.find(css).await;
        self.script(
            "const e = document.querySelector(arguments[0]); e.value = arguments[1]; e.dispatchEvent(new Event('change'));",
            json!([css, value]),
        )
        .await;
    }

    /// Waits until the text of `css` contains `want`; returns the text.
    pub async fn wait_text(&self, css: &str, want: &str) -> String {
        let started = Instant::now();
        loop {
            let t = self
                .script("const e = document.querySelector(arguments[0]); return e ? e.innerText : null", json!([css]))
                .await;
            if let Some(t) = t.as_str().filter(|t| t.contains(want)) {
                return t.to_string();
            }
            assert!(started.elapsed() < PATIENCE, "{css} never showed {want:?} (it shows {t})");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the value of field `css` contains `want`.
    pub async fn wait_value(&self, css: &str, want: &str) {
        let started = Instant::now();
        loop {
            let v = self
                .script("const e = document.querySelector(arguments[0]); return e ? e.value : null", json!([css]))
                .await;
            if v.as_str().is_some_and(|v| v.contains(want)) {
                return;
            }
            assert!(started.elapsed() < PATIENCE, "{css} never held {want:?} (it holds {v})");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Accepts the page's `confirm()`.
    pub async fn accept_dialog(&self) {
        let started = Instant::now();
        loop {
            let a = super::http::send(
                &self.addr,
                "POST",
                &self.at("/alert/accept"),
                &[("Content-Type", "application/json")],
                b"{}",
            )
            .await;
            if a.status < 300 {
                return;
            }
            assert!(started.elapsed() < PATIENCE, "no dialog opened");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Saves a PNG of the page as `name` under the test artefacts
    /// (`target/tmp/console-screenshots`).
    pub async fn screenshot(&self, name: &str) -> std::path::PathBuf {
        use base64::Engine;
        let v = self.call("GET", &self.at("/screenshot"), Value::Null).await;
        let png = base64::engine::general_purpose::STANDARD.decode(v.as_str().unwrap_or_default()).expect("a PNG");
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write screenshot");
        path
    }

    /// The browser's console messages of level SEVERE (errors) so far.
    pub async fn console_errors(&self) -> Vec<String> {
        let v = self.call("POST", &self.at("/se/log"), json!({"type": "browser"})).await;
        v.as_array()
            .map(|l| {
                l.iter()
                    .filter(|e| e["level"] == "SEVERE")
                    .map(|e| e["message"].as_str().unwrap_or_default().to_string())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for Browser {
    /// Ends the session (the driver closes the browser and its profile),
    /// then stops the driver.
    fn drop(&mut self) {
        use std::io::{Read, Write};
        if let Ok(mut s) = std::net::TcpStream::connect(&self.addr) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
            let req = format!(
                "DELETE /session/{} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
                self.session, self.addr
            );
            if s.write_all(req.as_bytes()).is_ok() {
                let _ = s.read_to_end(&mut Vec::new());
            }
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
