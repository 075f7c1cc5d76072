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
//! found by polling every [`POLL`] (no file-system notification API is
//! needed): each file's path, size and modification time, skipping
//! `node_modules`, `target`, `.git`, `__pycache__`, `.venv`, a server's data
//! directory, the code file and `.wasm` files. A change of the manifest
//! redeploys it too.

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
/// watched in part.
pub const MAX_WATCHED_FILES: usize = 20_000;
/// How long the server has to stop after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the server has to print its address.
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// A file in a server's data directory: such a directory is not watched.
const DATA_DIR_MARKER: &str = "tidepool.pid";
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

/// The state of a source directory: every file's path, size and
/// modification time (hashed, independent of the order they are read in),
/// their count, and the newest modification time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fingerprint {
    files: usize,
    digest: u64,
    newest: SystemTime,
}

/// `dir`'s fingerprint, skipping `code` (the build's own output), the
/// directories in [`SKIPPED_DIRS`], a server's data directory and `.wasm`
/// files.
fn fingerprint(dir: &Path, code: &Path) -> Fingerprint {
    use std::hash::{Hash, Hasher};
    let mut fp = Fingerprint { files: 0, digest: 0, newest: SystemTime::UNIX_EPOCH };
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for entry in entries.flatten() {
            if fp.files >= MAX_WATCHED_FILES {
                return fp;
            }
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                let data_dir = path.join(DATA_DIR_MARKER).exists();
                if !SKIPPED_DIRS.contains(&name.as_ref()) && !data_dir {
                    stack.push(path);
                }
                continue;
            }
            if name.ends_with(".wasm") || path == code {
                continue;
            }
            let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            let mut h = std::collections::hash_map::DefaultHasher::new();
            (&path, meta.len(), modified).hash(&mut h);
            fp.digest = fp.digest.wrapping_add(h.finish());
            fp.files += 1;
            fp.newest = fp.newest.max(modified);
        }
    }
    fp
}

/// The functions of `manifest` (at `path`) whose code `tidepool build` can
/// make from sources.
fn watched(manifest: &Manifest, path: &Path) -> Vec<Watched> {
    let base = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let base = base.canonicalize().unwrap_or(base);
    let mut out = Vec::new();
    for f in &manifest.functions {
        if f.code.to_string_lossy().starts_with("example:") {
            continue;
        }
        let code = base.join(&f.code);
        let code = match (code.parent().and_then(|p| p.canonicalize().ok()), code.file_name()) {
            (Some(dir), Some(file)) => dir.join(file),
            _ => code,
        };
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
        let before = fingerprint(&source, &code);
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

/// The `--data-dir` among `serve` options.
fn data_dir_arg(args: &[OsString]) -> Option<PathBuf> {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let a = a.to_string_lossy();
        if a == "--data-dir" {
            return it.next().map(PathBuf::from);
        }
        if let Some(d) = a.strip_prefix("--data-dir=") {
            return Some(PathBuf::from(d));
        }
    }
    None
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
        let sources = fingerprint(&w.source, &w.code);
        if code_time.is_some_and(|t| t >= sources.newest) {
            w.built = Some(sources);
        } else if !build(w).await? && !w.code.is_file() {
            bail!("{} has no code to start with: fix the build above and start again", w.function);
        }
    }
    let (mut child, url) = serve(manifest_path, &serve_args)?;
    // An https:// server with `--tls self-signed` and its own `--data-dir`
    // keeps its CA there.
    let mut cas = crate::cli::trusted_cas(None);
    cas.extend(data_dir_arg(&serve_args).and_then(|d| crate::cli::local_ca(&d)));
    let endpoint = Endpoint::parse_trusting(&url, &cas)?;
    eprintln!(
        "dev: watching {} handler source director{} (Ctrl-C or SIGTERM stops it and the server)",
        watched.len(),
        if watched.len() == 1 { "y" } else { "ies" }
    );
    // Built code, or a manifest changed, not yet deployed; a failed deploy
    // is tried again at the next change of either.
    let mut undeployed = false;
    let manifest_time = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let mut manifest_seen = manifest_time(manifest_path);
    let result = loop {
        tokio::select! {
            _ = interrupt.recv() => break Ok(()),
            _ = terminate.recv() => break Ok(()),
            () = tokio::time::sleep(POLL) => {}
        }
        if let Some(status) = child.try_wait()? {
            return Err(anyhow::anyhow!("the server exited ({status})"));
        }
        for w in &mut watched {
            let now = fingerprint(&w.source, &w.code);
            if w.built == Some(now) {
                continue;
            }
            // Settled: unchanged over one more poll (an editor's save in parts).
            tokio::time::sleep(POLL).await;
            if fingerprint(&w.source, &w.code) != now {
                continue;
            }
            undeployed |= build(w).await?;
        }
        let manifest_now = manifest_time(manifest_path);
        if manifest_now != manifest_seen {
            manifest_seen = manifest_now;
            undeployed = true;
        }
        if undeployed {
            undeployed = false;
            match crate::cli::deploy(manifest_path, false, &endpoint).await {
                Ok(()) => eprintln!("dev: deployed"),
                Err(e) => eprintln!("dev: the deploy failed (tried again at the next change): {e:#}"),
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
