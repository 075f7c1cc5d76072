//! JavaScript and TypeScript handlers: `export const handler = async (event,
//! context) => ...`, as for Lambda's Node.js runtime, made into a
//! `tidepool:handler` component with esbuild and componentize-js.
//!
//! - The tools come from npm, installed on first use under the tools
//!   directory ([`COMPONENTIZE_JS`], [`ESBUILD`]); Node.js and npm must be
//!   on the PATH. The handler's own packages are its `package.json`'s: when
//!   it has dependencies and no `node_modules`, `npm ci` (or `npm install`
//!   without a lock file) runs in its directory first.
//! - `javascript/build.mjs` bundles the adapter (`javascript/adapter.mjs`,
//!   which implements `handle`), then the handler with its packages as one
//!   esbuild bundle, which the adapter evaluates at the first invocation, as
//!   in Lambda's init phase, with `process.env` holding the function's
//!   environment (read through `wasi:cli/environment`, which the world here
//!   imports beside the handler world's imports).
//! - The AWS SDK for JavaScript v3 is bundled in its browser build (its
//!   requests go through `fetch`, which the host serves over wasi:http), with
//!   region, credentials and endpoint defaulting to the environment as in
//!   Lambda.
//! - The `tidepool` module gives the store and log imports
//!   (`import { call, log, StoreError } from "tidepool"`).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

use super::{HANDLER_WIT, WorkDir, install_once};

/// The componentize-js release installed (WASM-NOTES: a 12 MB component for
/// a `fetch` handler, about 1.2 ms a call).
pub const COMPONENTIZE_JS: &str = "0.23.0";
/// The esbuild release installed: bundles the handler and its packages.
pub const ESBUILD: &str = "0.28.2";

/// A handler module's file extensions, in the order they are looked for.
pub const EXTENSIONS: &[&str] = &["mjs", "js", "cjs", "ts", "mts", "cts"];

const BUILD_SCRIPT: &str = include_str!("javascript/build.mjs");
const ADAPTER: &str = include_str!("javascript/adapter.mjs");
/// `wasi:cli/environment` as componentize-js's engine imports it.
const ENVIRONMENT_WIT: &str = include_str!("javascript/environment.wit");

/// The file of Lambda's handler module `module` (`index`, `src/app`) in
/// `dir`, if there is one.
pub fn module_file(dir: &Path, module: &str) -> Option<PathBuf> {
    let safe = module.split('/').all(|part| !part.is_empty() && part != "." && part != "..");
    if !safe {
        return None;
    }
    EXTENSIONS.iter().map(|ext| dir.join(format!("{module}.{ext}"))).find(|f| f.is_file())
}

/// componentize-js and esbuild, installed with npm on first use; returns
/// the directory whose `node_modules` has them.
fn tools() -> anyhow::Result<PathBuf> {
    install_once(&format!("componentize-js-{COMPONENTIZE_JS}-esbuild-{ESBUILD}"), |dir| {
        std::fs::create_dir_all(dir).with_context(|| format!("make {}", dir.display()))?;
        let package = serde_json::json!({
            "name": "tidepool-build-tools",
            "private": true,
            "type": "module",
            "dependencies": {"@bytecodealliance/componentize-js": COMPONENTIZE_JS, "esbuild": ESBUILD},
        });
        std::fs::write(dir.join("package.json"), package.to_string())?;
        npm(dir, &["install", "--no-audit", "--no-fund", "--loglevel=error"])
    })
}

fn npm(dir: &Path, args: &[&str]) -> anyhow::Result<()> {
    let status = Command::new("npm")
        .current_dir(dir)
        .args(args)
        .stdout(std::process::Stdio::null())
        .status()
        .context("run npm: install Node.js 18 or later with npm (Debian: nodejs and npm)")?;
    if !status.success() {
        bail!("npm {} in {} failed ({status})", args.join(" "), dir.display());
    }
    Ok(())
}

/// Whether the handler's `package.json` names dependencies that are not
/// installed beside it.
fn needs_install(dir: &Path) -> anyhow::Result<bool> {
    let path = dir.join("package.json");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(false);
    };
    let package: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    let named =
        ["dependencies", "devDependencies"].iter().any(|k| package[k].as_object().is_some_and(|deps| !deps.is_empty()));
    Ok(named && !dir.join("node_modules").is_dir())
}

/// Builds the handler `module.export` (its file `file`) in `dir`.
pub fn build(dir: &Path, file: &Path, module: &str, export: &str, out: Option<&Path>) -> anyhow::Result<PathBuf> {
    let identifier = export.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
        && export.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
    if !identifier {
        bail!("the handler {module}.{export}: {export} is not a JavaScript export name");
    }
    let tools = tools()?;
    if needs_install(dir)? {
        let lock = dir.join("package-lock.json").is_file();
        eprintln!(
            "installing the handler's packages in {} (npm {})",
            dir.display(),
            if lock { "ci" } else { "install" }
        );
        npm(dir, if lock { &["ci", "--no-audit", "--no-fund"] } else { &["install", "--no-audit", "--no-fund"] })?;
    }
    let work = WorkDir::new()?;
    let wit = work.0.join("wit");
    std::fs::create_dir_all(wit.join("deps").join("cli"))?;
    let world =
        HANDLER_WIT.replacen("    import log;\n", "    import log;\n    import wasi:cli/environment@0.2.10;\n", 1);
    if world == HANDLER_WIT {
        bail!("the handler world has no `import log;` to extend");
    }
    std::fs::write(wit.join("handler.wit"), world)?;
    std::fs::write(wit.join("deps").join("cli").join("environment.wit"), ENVIRONMENT_WIT)?;
    // The script imports esbuild and componentize-js: it runs from the work
    // directory with the tools' node_modules linked beside it.
    let script = work.0.join("build.mjs");
    std::fs::write(&script, BUILD_SCRIPT).with_context(|| format!("write {}", script.display()))?;
    std::os::unix::fs::symlink(tools.join("node_modules"), work.0.join("node_modules"))
        .context("link the build tools")?;
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "handler".into());
    let out = out.map(Path::to_path_buf).unwrap_or_else(|| dir.join(format!("{name}.wasm")));
    let config = serde_json::json!({
        "dir": dir,
        "entry": file,
        "module": module,
        "export": export,
        "adapter": ADAPTER,
        "wit": wit,
        "world": "handler",
        "bundle": work.0.join("bundle.mjs"),
        "out": out,
    });
    eprintln!("building the JavaScript handler {module}.{export} in {} (esbuild, componentize-js)", dir.display());
    let output = Command::new("node")
        .arg(&script)
        .arg(config.to_string())
        .output()
        .context("run node: install Node.js 18 or later (Debian: nodejs)")?;
    if !output.status.success() {
        let text = String::from_utf8_lossy(&output.stderr);
        bail!("the JavaScript build failed:\n{}", text.trim_end());
    }
    eprintln!("built {}", out.display());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modules_are_files_inside_the_directory() {
        let dir = WorkDir::new().unwrap();
        let dir = dir.0.as_path();
        std::fs::create_dir_all(dir.join("src")).unwrap();
        std::fs::write(dir.join("src").join("app.ts"), "export const handler = async () => 1;").unwrap();
        std::fs::write(dir.join("index.mjs"), "").unwrap();
        assert_eq!(module_file(dir, "index"), Some(dir.join("index.mjs")));
        assert_eq!(module_file(dir, "src/app"), Some(dir.join("src").join("app.ts")));
        assert_eq!(module_file(dir, "../index"), None);
        assert_eq!(module_file(dir, "/index"), None);
        assert_eq!(module_file(dir, "missing"), None);
    }
}
