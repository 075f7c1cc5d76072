//! `tidepool dev`: the edit → trigger → see loop. It runs `tidepool serve`
//! with a manifest as a child process (function logs shown), builds each
//! function's handler from its sources as `tidepool build` does, and
//! watches the sources: a change rebuilds the handler and redeploys the
//! manifest to the server (`tidepool deploy`, which replaces only the code
//! that changed). A failed build is printed and the server keeps the code
//! it has.
//!
//! A function's sources are the directory of its `code` file, or the
//! nearest directory above it (up to the manifest's) that holds a handler
//! `tidepool build` knows (`Cargo.toml`, `package.json`, a Lambda Python
//! or Node.js handler file). `example:` codes are not watched. Changes are
//! found by polling modification times every [`POLL`] (no file-system
//! notification API is needed), skipping `node_modules`, `target`, `.git`,
//! `__pycache__` and `.wasm` files.

use std::ffi::OsString;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, bail};

use crate::cli::Endpoint;
use tidepool::lambda::manifest::Manifest;

/// How often the sources are looked at.
pub const POLL: Duration = Duration::from_millis(500);
/// Files looked at per source directory: a directory past this is
/// watched in part (and the log says so).
pub const MAX_WATCHED_FILES: usize = 20_000;
/// How long the server has to stop after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the server has to print its address.
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// Directories never watched: tools' output and installed packages.
const SKIPPED_DIRS: &[&str] = &["node_modules", "target", ".git", "__pycache__", ".venv"];

/// A function whose handler is built from a source directory.
struct Watched {
    function: String,
    source: PathBuf,
    code: PathBuf,
    /// The sources' state when the code was last built from them.
    built: Option<Fingerprint>,
}

/// The newest modification time and the number of files under a directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fingerprint {
    newest: SystemTime,
    files: usize,
}

fn fingerprint(dir: &Path) -> Fingerprint {
    let mut fp = Fingerprint { newest: SystemTime::UNIX_EPOCH, files: 0 };
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for entry in entries.flatten() {
            if fp.files >= MAX_WATCHED_FILES {
                return fp;
            }
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                if !SKIPPED_DIRS.contains(&name.as_ref()) {
                    stack.push(entry.path());
                }
                continue;
            }
            if name.ends_with(".wasm") {
                continue;
            }
            fp.files += 1;
            if let Ok(m) = meta.modified() {
                fp.newest = fp.newest.max(m);
            }
        }
    }
    fp
}

/// The functions of `manifest` (at `path`) whose code `tidepool build` can
/// make from sources.
fn watched(manifest: &Manifest, path: &Path) -> Vec<Watched> {
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let base = base.canonicalize().unwrap_or(base);
    let mut out = Vec::new();
    for f in &manifest.functions {
        if f.code.to_string_lossy().starts_with("example:") {
            continue;
        }
        let code = base.join(&f.code);
        let mut dir = code.parent().map(Path::to_path_buf);
        let source = loop {
            let Some(d) = dir else { break None };
            let d = d.canonicalize().unwrap_or(d);
            if tidepool::build::is_handler_dir(&d) {
                break Some(d);
            }
            if d == base || !d.starts_with(&base) {
                break None;
            }
            dir = d.parent().map(Path::to_path_buf);
        };
        match source {
            Some(source) => out.push(Watched { function: f.name.clone(), source, code, built: None }),
            None => eprintln!("dev: {} ({}) has no handler sources to watch", f.name, code.display()),
        }
    }
    out
}

/// Builds `w`'s handler into its code file on a blocking thread; records
/// the sources it was built from (a failed build too: the next change
/// tries again). Says whether it built.
async fn build(w: &mut Watched) -> anyhow::Result<bool> {
    let (function, source, code) = (w.function.clone(), w.source.clone(), w.code.clone());
    let (before, ok) = tokio::task::spawn_blocking(move || {
        let before = fingerprint(&source);
        let started = Instant::now();
        eprintln!("dev: building {function} from {}", source.display());
        match tidepool::build::build(&source, Some(&code), None) {
            Ok(_) => {
                eprintln!("dev: built {function} in {:.1} s", started.elapsed().as_secs_f64());
                (before, true)
            }
            Err(e) => {
                eprintln!("dev: the build of {function} failed; the server keeps its code:\n{e:#}");
                (before, false)
            }
        }
    })
    .await?;
    w.built = Some(before);
    Ok(ok)
}

/// Starts `tidepool serve --manifest <manifest> --log-functions <args>`;
/// returns it with the address it printed.
fn serve(manifest: &Path, args: &[OsString]) -> anyhow::Result<(Child, String)> {
    let exe = std::env::current_exe().context("find the tidepool binary")?;
    let mut child = Command::new(exe)
        .arg("serve")
        .arg("--manifest")
        .arg(manifest)
        .arg("--log-functions")
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .context("start tidepool serve")?;
    let stdout = child.stdout.take().context("the server's stdout")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = std::io::BufReader::new(stdout).lines();
        let mut sent = false;
        while let Some(Ok(line)) = lines.next() {
            if !sent && let Some(url) = line.strip_prefix("tidepool listening on ") {
                let _ = tx.send(url.trim().to_string());
                sent = true;
            }
            println!("{line}");
        }
    });
    match rx.recv_timeout(START_TIMEOUT) {
        Ok(url) => Ok((child, url)),
        Err(_) => {
            let _ = child.kill();
            let status = child.wait().ok();
            bail!("the server did not start ({status:?}); its log is above")
        }
    }
}

/// Runs the loop until the server exits or the process is interrupted.
pub async fn run(manifest_path: &Path, serve_args: Vec<OsString>) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(manifest_path).with_context(|| format!("read manifest {}", manifest_path.display()))?;
    let manifest = Manifest::parse(&text).with_context(|| format!("parse manifest {}", manifest_path.display()))?;
    // Registered first: a signal while a build runs is not lost.
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt()).context("handle SIGINT")?;
    let mut terminate = signal(SignalKind::terminate()).context("handle SIGTERM")?;
    let mut watched = watched(&manifest, manifest_path);
    // The code the server starts with: built now when missing or older than its sources.
    for w in &mut watched {
        let code_time = std::fs::metadata(&w.code).and_then(|m| m.modified()).ok();
        let sources = fingerprint(&w.source);
        if code_time.is_some_and(|t| t >= sources.newest) {
            w.built = Some(sources);
        } else {
            build(w).await?;
        }
    }
    let (mut child, url) = serve(manifest_path, &serve_args)?;
    let endpoint = Endpoint::parse(&url)?;
    eprintln!(
        "dev: watching {} handler source director{} (Ctrl-C or SIGTERM stops it and the server)",
        watched.len(),
        if watched.len() == 1 { "y" } else { "ies" }
    );
    let result = loop {
        tokio::select! {
            _ = interrupt.recv() => break Ok(()),
            _ = terminate.recv() => break Ok(()),
            () = tokio::time::sleep(POLL) => {}
        }
        if let Some(status) = child.try_wait()? {
            break Err(anyhow::anyhow!("the server exited ({status})"));
        }
        let mut rebuilt = false;
        for w in &mut watched {
            let now = fingerprint(&w.source);
            if w.built == Some(now) {
                continue;
            }
            // Settled: unchanged over one more poll (an editor's save in parts).
            tokio::time::sleep(POLL).await;
            if fingerprint(&w.source) != now {
                continue;
            }
            rebuilt |= build(w).await?;
        }
        if rebuilt {
            match crate::cli::deploy(manifest_path, false, &endpoint).await {
                Ok(()) => eprintln!("dev: deployed"),
                Err(e) => eprintln!("dev: the deploy failed: {e:#}"),
            }
        }
    };
    stop(&mut child);
    result
}

/// Stops the server as Ctrl-C would (SIGTERM: it flushes and closes its
/// store), killing it after [`STOP_TIMEOUT`].
fn stop(child: &mut Child) {
    let pid = rustix::process::Pid::from_child(child);
    let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
    let deadline = Instant::now() + STOP_TIMEOUT;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}
