//! Third-party client programs: the Python and the Node that drive them, each checked for
//! the packages a test needs, and a script of theirs run to its end.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// How long [`run_client`] lets a script run.
const CLIENT_RUN: Duration = Duration::from_secs(120);

/// The Python interpreter tests drive third-party clients with: `SWITCHYARD_PYTHON`, else the
/// workspace's `.venv/bin/python` (which `.ci/run` creates), else `python3` on `PATH`.
pub fn python() -> PathBuf {
    if let Some(path) = std::env::var_os("SWITCHYARD_PYTHON") {
        return PathBuf::from(path);
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
    if venv.is_file() {
        return venv;
    }
    PathBuf::from("python3")
}

/// [`python`], checked to import every one of `modules` (Python module names, such as
/// `redis` or `discord`). Panics with a message naming the interpreter, the missing modules
/// and how to install them, so a test never passes because Python was not there.
pub fn python_with(modules: &[&str]) -> PathBuf {
    let python = python();
    let import = format!("import {}", modules.join(", "));
    let out = Command::new(&python)
        .args(["-c", &import])
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} ({e}): run .ci/run to create .venv, or set SWITCHYARD_PYTHON",
                python.display()
            )
        });
    assert!(
        out.status.success(),
        "{} cannot `{import}`: install the test clients with `.venv/bin/pip install -r \
         .ci/requirements.txt` (.ci/run does this), or point SWITCHYARD_PYTHON at a Python that \
         has them.\n{}",
        python.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    python
}

/// Where `.ci/run` installs the Node packages tests use (`npm install --prefix .ci/npm`).
fn node_modules() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.ci/npm/node_modules")
}

/// `node`, checked to be on `PATH` and to find every one of `packages` under `.ci/npm`.
/// Panics with a message naming what is missing and how to install it.
pub fn node_with(packages: &[&str]) -> PathBuf {
    let node = crate::require_binary("node");
    let modules = node_modules();
    for package in packages {
        assert!(
            modules.join(package).join("package.json").is_file(),
            "this test needs the Node package {package}: run `npm install --prefix .ci/npm \
             {package}` at the workspace root (.ci/run does, at the version it names)"
        );
    }
    node
}

/// Runs `program` with `args` (a Python or Node client script, Node finding the modules
/// `.ci/run` installs under `.ci/npm`) and waits for it to exit. Panics, with the script's
/// output and `context()` (what the server side printed, say), if it fails or runs longer
/// than two minutes.
pub async fn run_client(
    what: &str,
    program: &Path,
    args: &[String],
    context: impl FnOnce() -> String,
) {
    let child = tokio::process::Command::new(program)
        .args(args)
        .env("NODE_PATH", node_modules())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {} ({e})", program.display()));
    let out = tokio::time::timeout(CLIENT_RUN, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("the {what} run did not finish within {CLIENT_RUN:?}"))
        .expect("the run");
    assert!(
        out.status.success(),
        "the {what} client failed ({:?})\nstdout:\n{}\nstderr:\n{}\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        context()
    );
}
