//! YARA rules with `yara-x`, over a directory the lab maintains. The set is
//! recompiled when a file in it changes (checked at most every few seconds),
//! without a restart. A file that does not compile is reported and skipped,
//! never fatal. The analyser's version carries a digest of the compiled
//! sources, so `intake reanalyse` after a rules change re-runs it on old
//! samples while unchanged rules never scan a sample twice.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use intake::analysis::{AnalyseError, Analyser};
use intake::store::queue::SampleJob;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// How long one scan may take.
const SCAN_TIMEOUT: Duration = Duration::from_secs(60);
/// How often the directory is looked at for changes.
const RECHECK: Duration = Duration::from_secs(5);

/// A compiled rule set and what happened compiling it.
pub struct RuleSet {
    rules: yara_x::Rules,
    /// "1+<12 hex of the sources' digest>".
    version: String,
    /// (file, error) for every file skipped.
    pub errors: Vec<(String, String)>,
    pub files: usize,
    stamp: Vec<(PathBuf, Option<SystemTime>, u64)>,
}

/// The `rules` analyser.
pub struct Rules {
    dir: PathBuf,
    current: RwLock<(Arc<RuleSet>, Instant)>,
}

/// Every `.yar`/`.yara` file of `dir`, sorted, with its mtime and size.
fn listing(dir: &Path) -> Vec<(PathBuf, Option<SystemTime>, u64)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_else(|_| Vec::new())
        .into_iter()
        .filter(|p: &PathBuf| {
            p.extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("yar") || e.eq_ignore_ascii_case("yara"))
        })
        .map(|p| {
            let m = std::fs::metadata(&p).ok();
            let mtime = m.as_ref().and_then(|m| m.modified().ok());
            let size = m.map_or(0, |m| m.len());
            (p, mtime, size)
        })
        .collect();
    v.sort();
    v
}

/// Compiles every rule file of `dir`, each in its own namespace (the file
/// stem), skipping the ones that do not compile.
pub fn compile(dir: &Path) -> RuleSet {
    let stamp = listing(dir);
    let mut compiler = yara_x::Compiler::new();
    let mut digest = Sha256::new();
    let mut errors = Vec::new();
    let mut files = 0;
    for (path, _, _) in &stamp {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let src = match std::fs::read_to_string(path) {
            Ok(s) => s,
            Err(e) => {
                errors.push((name, e.to_string()));
                continue;
            }
        };
        // Check alone first, so one broken file cannot poison the set.
        let mut probe = yara_x::Compiler::new();
        if let Err(e) = probe.add_source(src.as_str()) {
            errors.push((name, e.to_string()));
            continue;
        }
        let ns = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        compiler.new_namespace(&ns);
        match compiler.add_source(src.as_str()) {
            Ok(_) => {
                files += 1;
                digest.update(name.as_bytes());
                digest.update([0]);
                digest.update(src.as_bytes());
            }
            Err(e) => errors.push((name, e.to_string())),
        }
    }
    for (file, e) in &errors {
        tracing::error!(file, error = %e, "YARA rule file skipped");
    }
    RuleSet {
        rules: compiler.build(),
        version: format!("1+{}", &hex::encode(digest.finalize())[..12]),
        errors,
        files,
        stamp,
    }
}

impl Rules {
    pub fn open(dir: &Path) -> Rules {
        let set = compile(dir);
        tracing::info!(dir = %dir.display(), files = set.files, skipped = set.errors.len(), "YARA rules loaded");
        Rules {
            dir: dir.to_owned(),
            current: RwLock::new((Arc::new(set), Instant::now())),
        }
    }

    /// The rule set to scan with, recompiled first when the directory changed.
    pub fn rule_set(&self) -> Arc<RuleSet> {
        let (set, checked) = match self.current.read() {
            Ok(g) => (g.0.clone(), g.1),
            Err(p) => (p.get_ref().0.clone(), p.get_ref().1),
        };
        if checked.elapsed() < RECHECK {
            return set;
        }
        let now = listing(&self.dir);
        let fresh = if now == set.stamp {
            set
        } else {
            let s = Arc::new(compile(&self.dir));
            tracing::info!(files = s.files, skipped = s.errors.len(), version = %s.version, "YARA rules reloaded");
            s
        };
        if let Ok(mut g) = self.current.write() {
            *g = (fresh.clone(), Instant::now());
        }
        fresh
    }

    /// Forces the next `rule_set` to look at the directory.
    #[cfg(test)]
    pub fn recheck_now(&self) {
        if let Ok(mut g) = self.current.write() {
            g.1 = Instant::now() - RECHECK;
        }
    }
}

fn meta_json(v: yara_x::MetaValue<'_>) -> Value {
    match v {
        yara_x::MetaValue::Integer(i) => json!(i),
        yara_x::MetaValue::Float(f) => json!(f),
        yara_x::MetaValue::Bool(b) => json!(b),
        yara_x::MetaValue::String(s) => json!(s),
        yara_x::MetaValue::Bytes(b) => json!(String::from_utf8_lossy(b.as_ref())),
    }
}

impl Analyser for Rules {
    fn name(&self) -> &'static str {
        "yara"
    }
    fn version(&self) -> String {
        self.rule_set().version.clone()
    }
    fn analyse(&self, bytes: &[u8], _job: &SampleJob) -> Result<Value, AnalyseError> {
        let set = self.rule_set();
        let mut scanner = yara_x::Scanner::new(&set.rules);
        scanner.set_timeout(SCAN_TIMEOUT);
        let results = scanner.scan(bytes).map_err(|e| AnalyseError::Source {
            what: "yara scan",
            why: e.to_string(),
        })?;
        let matches: Vec<Value> = results
            .matching_rules()
            .map(|r| {
                let meta: serde_json::Map<String, Value> = r
                    .metadata()
                    .map(|(k, v)| (k.to_owned(), meta_json(v)))
                    .collect();
                json!({
                    "rule": r.identifier(),
                    "namespace": r.namespace(),
                    "tags": r.tags().map(|t| t.identifier()).collect::<Vec<_>>(),
                    "meta": meta,
                })
            })
            .collect();
        Ok(json!({ "matches": matches, "rules_version": set.version }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::job;

    const EICAR: &[u8] = br"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

    #[test]
    fn starter_set_names_eicar() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
        let r = Rules::open(&dir);
        assert!(r.rule_set().errors.is_empty(), "{:?}", r.rule_set().errors);
        let v = r.analyse(EICAR, &job(EICAR)).expect("scan");
        assert_eq!(v["matches"][0]["rule"], "EICAR_test_file");
        let v = r.analyse(b"harmless", &job(b"harmless")).expect("scan");
        assert_eq!(v["matches"].as_array().map(Vec::len), Some(0));
    }

    #[test]
    fn broken_files_are_skipped_and_changes_reload() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(
            dir.path().join("good.yar"),
            "rule Good { strings: $a = \"needle\" condition: $a }",
        )
        .expect("write");
        std::fs::write(
            dir.path().join("bad.yar"),
            "rule Bad { condition: nonsense( }",
        )
        .expect("write");
        let r = Rules::open(dir.path());
        let set = r.rule_set();
        assert_eq!(set.files, 1);
        assert_eq!(set.errors.len(), 1);
        assert_eq!(set.errors[0].0, "bad.yar");
        let v = r.analyse(b"a needle here", &job(b"")).expect("scan");
        assert_eq!(v["matches"][0]["rule"], "Good");
        let before = r.version();

        std::fs::write(
            dir.path().join("more.yara"),
            "rule More { strings: $a = \"here\" condition: $a }",
        )
        .expect("write");
        r.recheck_now();
        let v = r.analyse(b"a needle here", &job(b"")).expect("scan");
        assert_eq!(v["matches"].as_array().map(Vec::len), Some(2));
        assert_ne!(r.version(), before);
    }
}
