//! Makes a bare machine ready for the test suite: a `redis-server` binary for the Redis
//! store tests (they start private servers on loopback), a Python venv with the
//! official `openai` client for the gateway's SDK test, and Debian's `chromium` and
//! `chromium-driver` for the dashboard's browser tests.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::util;

/// Installs what is missing and returns the environment the tests need.
pub(crate) fn run(root: &Path) -> Result<Vec<(String, String)>> {
    let mut env = Vec::new();
    if std::env::var("LLMPOOL_SKIP_REDIS").as_deref() == Ok("1") {
        println!("xtask: LLMPOOL_SKIP_REDIS=1: Redis store tests will be skipped");
    } else {
        ensure_redis()?;
    }
    if std::env::var("LLMPOOL_SKIP_PYTHON").as_deref() == Ok("1") {
        println!("xtask: LLMPOOL_SKIP_PYTHON=1: the OpenAI SDK test will be skipped");
    } else {
        let python = ensure_venv(root)?;
        env.push(("LLMPOOL_PYTHON".to_owned(), python.display().to_string()));
    }
    if std::env::var("LLMPOOL_SKIP_BROWSER").as_deref() == Ok("1") {
        println!("xtask: LLMPOOL_SKIP_BROWSER=1: the dashboard's browser tests will be skipped");
    } else {
        let (chromium, driver) = ensure_chromium()?;
        env.push((
            "LLMPOOL_CHROMIUM".to_owned(),
            chromium.display().to_string(),
        ));
        env.push((
            "LLMPOOL_CHROMEDRIVER".to_owned(),
            driver.display().to_string(),
        ));
    }
    Ok(env)
}

/// Chromium and its WebDriver, from Debian's packages when missing.
fn ensure_chromium() -> Result<(PathBuf, PathBuf)> {
    let find = |bin: &str| {
        on_path(bin).or_else(|| Some(Path::new("/usr/bin").join(bin)).filter(|p| p.is_file()))
    };
    if find("chromium").is_none() || find("chromedriver").is_none() {
        apt_install(&["chromium", "chromium-driver", "fonts-liberation"])?;
    }
    match (find("chromium"), find("chromedriver")) {
        (Some(chromium), Some(driver)) => Ok((chromium, driver)),
        _ => bail!(
            "chromium or chromedriver is still missing after installing chromium and chromium-driver"
        ),
    }
}

pub(crate) fn on_path(bin: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(bin))
        .find(|p| p.is_file())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

pub(crate) fn apt_install(packages: &[&str]) -> Result<()> {
    if on_path("apt-get").is_none() || !is_root() {
        bail!(
            "missing {}: install it (Debian: apt-get install {}) or set the matching LLMPOOL_SKIP_* variable",
            packages.join(", "),
            packages.join(" ")
        );
    }
    println!("xtask: installing {} with apt-get", packages.join(", "));
    util::run(Command::new("apt-get").args(["update", "-qq"]))?;
    util::run(
        Command::new("apt-get")
            .args(["install", "-y", "-qq", "--no-install-recommends"])
            .args(packages)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
}

fn ensure_redis() -> Result<()> {
    if on_path("redis-server").is_none() && !Path::new("/usr/bin/redis-server").is_file() {
        apt_install(&["redis-server"])?;
    }
    Ok(())
}

fn ensure_venv(root: &Path) -> Result<PathBuf> {
    let venv = root.join("target").join("py-venv");
    let python = venv.join("bin").join("python");
    let has_openai = |py: &Path| {
        Command::new(py)
            .args(["-c", "import openai"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if python.is_file() && has_openai(&python) {
        return Ok(python);
    }
    if on_path("python3").is_none() {
        apt_install(&["python3", "python3-venv"])?;
    }
    let created = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .is_ok_and(|s| s.success());
    if !created {
        apt_install(&["python3-venv"])?;
        util::run(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
    }
    println!(
        "xtask: installing the openai Python client into {}",
        venv.display()
    );
    util::run(Command::new(venv.join("bin").join("pip")).args([
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "openai>=1.40,<3",
    ]))
    .context("pip install openai")?;
    if !has_openai(&python) {
        bail!("the venv at {} cannot import openai", venv.display());
    }
    Ok(python)
}
