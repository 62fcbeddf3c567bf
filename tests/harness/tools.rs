//! The outside tools the tests drive — Python with `aiosmtpd`,
//! `schemathesis`, `playwright` and `pyzipper`, Debian's Chromium with a CJK
//! font, `swaks`, `7z` and `yara` — found or provisioned on first use, so `cargo test --workspace`
//! passes on a fresh machine by itself. Python packages go into a virtual
//! environment under the target folder (never into the system Python);
//! `swaks` comes from Debian's packages. A lock file keeps test binaries that
//! run at once from provisioning twice.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The Python packages the test tools import.
const PYTHON_PACKAGES: &[&str] = &["aiosmtpd", "schemathesis", "playwright", "pyzipper"];

/// A Python interpreter that imports [`PYTHON_PACKAGES`].
pub fn python() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        if imports_all(Path::new("python3")) {
            return PathBuf::from("python3");
        }
        let _lock = Lock::take();
        let venv = tools_dir().join("venv");
        let python = venv.join("bin/python");
        if imports_all(&python) {
            return python;
        }
        let _ = fs::remove_dir_all(&venv);
        run(Command::new("python3").args(["-m", "venv"]).arg(&venv));
        run(Command::new(&python)
            .args(["-m", "pip", "install", "-q", "--disable-pip-version-check"])
            .args(PYTHON_PACKAGES));
        assert!(
            imports_all(&python),
            "the test tools' virtual environment at {} does not import {PYTHON_PACKAGES:?}",
            venv.display()
        );
        python
    })
}

/// The `swaks` SMTP client, installed from Debian's packages when missing,
/// with the Perl modules its `--tls` needs.
pub fn swaks() -> &'static Path {
    static SWAKS: OnceLock<PathBuf> = OnceLock::new();
    SWAKS.get_or_init(|| {
        let ready = || {
            on_path("swaks").filter(|_| {
                Command::new("perl")
                    .args(["-MIO::Socket::SSL", "-MNet::SSLeay", "-e", "1"])
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success())
            })
        };
        debian(
            ready,
            &["swaks", "libio-socket-ssl-perl", "libnet-ssleay-perl"],
        )
    })
}

/// Debian's headless Chromium (Playwright drives it; its own browser
/// download cannot reach the network), with a font for Chinese pages —
/// without one, Chinese screenshots show empty boxes.
pub fn chromium() -> &'static Path {
    static CHROMIUM: OnceLock<PathBuf> = OnceLock::new();
    CHROMIUM.get_or_init(|| {
        debian(
            || {
                on_path("chromium")
                    .filter(|_| Path::new("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc").exists())
            },
            &["chromium", "fonts-wqy-zenhei"],
        )
    })
}

/// Debian's `7z` (p7zip-full): opens the encrypted sample zips.
pub fn sevenzip() -> &'static Path {
    static SEVENZIP: OnceLock<PathBuf> = OnceLock::new();
    SEVENZIP.get_or_init(|| debian(|| on_path("7z"), &["p7zip-full"]))
}

/// Debian's `yara` command: runs the emergency detection rules.
pub fn yara() -> &'static Path {
    static YARA: OnceLock<PathBuf> = OnceLock::new();
    YARA.get_or_init(|| debian(|| on_path("yara"), &["yara"]))
}

/// The `curl` command (HTTPS requests).
pub fn curl() -> &'static Path {
    static CURL: OnceLock<PathBuf> = OnceLock::new();
    CURL.get_or_init(|| debian(|| on_path("curl"), &["curl"]))
}

/// Debian's nginx (the upload benchmark's baseline).
pub fn nginx() -> &'static Path {
    static NGINX: OnceLock<PathBuf> = OnceLock::new();
    NGINX.get_or_init(|| {
        debian(
            || Some(PathBuf::from("/usr/sbin/nginx")).filter(|p| p.is_file()),
            &["nginx"],
        )
    })
}

/// The `openssl` command (certificates for the TLS tests).
pub fn openssl() -> &'static Path {
    static OPENSSL: OnceLock<PathBuf> = OnceLock::new();
    OPENSSL.get_or_init(|| debian(|| on_path("openssl"), &["openssl"]))
}

/// A self-signed certificate for `localhost` made with `openssl`; its
/// SHA-256 fingerprint (of the DER form). It writes `cert.pem` and
/// `key.pem` in `dir`.
pub fn certificate(dir: &Path) -> String {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let out = Command::new(openssl())
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args(["-nodes", "-days", "2", "-subj", "/CN=localhost"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let der = Command::new(openssl())
        .args(["x509", "-outform", "der", "-in"])
        .arg(&cert)
        .output()
        .expect("openssl");
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(&der.stdout))
}

/// What `found` finds, installing `packages` from Debian's archive first
/// when it finds nothing.
fn debian(found: impl Fn() -> Option<PathBuf>, packages: &[&str]) -> PathBuf {
    if let Some(p) = found() {
        return p;
    }
    let _lock = Lock::take();
    if let Some(p) = found() {
        return p;
    }
    let install = || {
        Command::new("apt-get")
            .args(["install", "-y", "-q", "--no-install-recommends"])
            .args(packages)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !install() {
        // A new machine's package lists may be empty or stale.
        let _ = Command::new("apt-get")
            .args(["update", "-q"])
            .stdout(Stdio::null())
            .status();
        assert!(
            install(),
            "{packages:?} not installed and `apt-get install` failed (run it as root)"
        );
    }
    found().unwrap_or_else(|| panic!("{packages:?} installed but not usable"))
}

fn imports_all(python: &Path) -> bool {
    let script = PYTHON_PACKAGES
        .iter()
        .map(|p| format!("import {p}"))
        .collect::<Vec<_>>()
        .join("; ");
    Command::new(python)
        .args(["-c", &script])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?} could not start: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn tools_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("test-tools");
    fs::create_dir_all(&dir).expect("test tools folder");
    dir
}

/// An exclusive lock on the tools folder's lock file, held while alive.
struct Lock(#[allow(dead_code)] File);

impl Lock {
    fn take() -> Lock {
        let file = File::create(tools_dir().join(".lock")).expect("lock file");
        file.lock().expect("lock on the test tools' lock file");
        Lock(file)
    }
}

/// `schemathesis` (PyPI) against the OpenAPI description at `url` with
/// the API token `token`: every check, 40 examples per operation, seed 1
/// (the same run each time).
pub fn schemathesis(url: &str, token: &str) -> std::io::Result<std::process::Output> {
    std::process::Command::new(python())
        .args(["-m", "schemathesis.cli", "run", url])
        .args(["-H", &format!("Authorization: Bearer {token}")])
        .args([
            "--checks",
            "all",
            "--max-examples",
            "40",
            "--seed",
            "1",
            "--workers",
            "1",
        ])
        .args([
            "--exclude-checks",
            "use_after_free,ensure_resource_availability",
        ])
        .env("SCHEMATHESIS_HOOKS", "")
        .output()
}
