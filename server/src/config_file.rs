//! `flowlens.toml`: every setting of `flowlens serve` in a file (path by `--config` or
//! `FLOWLENS_CONFIG`), below the environment and the command line.
//!
//! Each setting already has an environment variable (its flag's `env`), and clap already ranks a
//! flag above its variable above its default. So the file is applied by setting the variables it
//! names that the environment does not already set, before the command line is parsed: flag >
//! environment > file > default, with one parser. A key is the flag's name (`database-url`); in a
//! table, the table's name is the flag's first word (`[kafka] brokers` is `--kafka-brokers`).
//! `KEY-file = "/run/secrets/…"` reads a setting from a file, as does `VARIABLE_FILE` in the
//! environment, as container platforms mount secrets.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Where an effective setting came from, for `flowlens config check`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// The file and line that set it.
    File(String),
    /// A file of a secret (`*_FILE`, `*-file`).
    SecretFile(PathBuf),
}

/// What the layering did: the variables it set, and from where.
#[derive(Debug, Default)]
pub struct Layered {
    pub file: Option<PathBuf>,
    pub set: BTreeMap<String, Source>,
}

/// One setting as the command knows it: its flag, its environment variable, how lists join.
struct Known {
    long: String,
    env: String,
    delimiter: Option<char>,
}

fn known() -> Vec<Known> {
    let command = <crate::config::Settings as clap::Args>::augment_args(clap::Command::new("serve"));
    command
        .get_arguments()
        .filter_map(|a| {
            Some(Known { long: a.get_long()?.to_string(), env: a.get_env()?.to_string_lossy().into_owned(), delimiter: a.get_value_delimiter() })
        })
        .collect()
}

/// The config file named on the command line (`--config F`, `--config=F`) or in `FLOWLENS_CONFIG`.
pub fn named(args: &[OsString]) -> Option<PathBuf> {
    let mut it = args.iter().map(|a| a.to_string_lossy().into_owned());
    while let Some(arg) = it.next() {
        if arg == "--" {
            break;
        }
        if arg == "--config" {
            return it.next().map(PathBuf::from);
        }
        if let Some(path) = arg.strip_prefix("--config=") {
            return Some(PathBuf::from(path));
        }
    }
    std::env::var_os("FLOWLENS_CONFIG").filter(|p| !p.is_empty()).map(PathBuf::from)
}

/// Reads the file (if any) and the `*_FILE` variables into the environment, where the
/// environment does not already say. Call before any thread starts.
pub fn apply(args: &[OsString]) -> Result<Layered, String> {
    let known = known();
    let mut layered = Layered::default();
    let mut values: BTreeMap<String, (String, Source)> = BTreeMap::new();
    if let Some(path) = named(args) {
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        values = settings_in(&path, &text, &known)?;
        layered.file = Some(path);
    }
    for k in &known {
        let env_file = format!("{}_FILE", k.env);
        if std::env::var_os(&k.env).is_none() {
            if let Some(secret) = std::env::var_os(&env_file) {
                let secret = PathBuf::from(secret);
                values.insert(k.env.clone(), (read_secret(&secret).map_err(|e| format!("{env_file}: {e}"))?, Source::SecretFile(secret)));
            }
        }
    }
    for (env, (value, source)) in values {
        if std::env::var_os(&env).is_none() {
            // Before any other thread exists (see main), so nothing reads the environment meanwhile.
            std::env::set_var(&env, value);
            layered.set.insert(env, source);
        }
    }
    Ok(layered)
}

/// A secret mounted as a file (as container platforms do): its content, without the final newline.
pub(crate) fn read_secret(path: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(text.trim_end_matches(['\n', '\r']).to_string())
}

/// The settings a file gives, as environment values keyed by variable name. Unknown keys,
/// wrong types and unreadable secret files are refused with the file and line.
fn settings_in(path: &Path, text: &str, known: &[Known]) -> Result<BTreeMap<String, (String, Source)>, String> {
    let table: toml::Table = toml::from_str(text).map_err(|e| format!("{}: {e}", path.display()))?;
    let lines = key_lines(text);
    let place = |section: Option<&str>, key: &str| {
        let line = lines.get(&(section.unwrap_or("").to_string(), key.to_string())).copied().unwrap_or(1);
        format!("{}:{line}", path.display())
    };
    let mut out = BTreeMap::new();
    let mut problems = Vec::new();
    let mut take = |section: Option<&str>, key: &str, value: &toml::Value| {
        let at = place(section, key);
        let flag = match section {
            Some(s) => format!("{s}-{key}"),
            None => key.to_string(),
        }
        .replace('_', "-");
        // A repeatable flag reads as a plural in a file: `options = [...]` for `--kafka-option`.
        let singular = flag.strip_suffix('s').filter(|f| known.iter().any(|k| k.long == *f && k.delimiter.is_some())).map(String::from);
        let flag = singular.unwrap_or(flag);
        let (flag, from_file) = match known.iter().any(|k| k.long == flag) {
            true => (flag, false),
            false => match flag.strip_suffix("-file") {
                Some(base) if known.iter().any(|k| k.long == base) => (base.to_string(), true),
                _ => {
                    let mut names: Vec<&str> = known.iter().map(|k| k.long.as_str()).filter(|l| *l != "config").collect();
                    names.sort();
                    problems.push(format!("{at}: unknown setting `{key}`{}; the settings are: {}", section.map(|s| format!(" in [{s}]")).unwrap_or_default(), names.join(", ")));
                    return;
                }
            },
        };
        let k = known.iter().find(|k| k.long == flag).expect("found above");
        if flag == "config" {
            problems.push(format!("{at}: `config` names this file; it cannot be set in it"));
            return;
        }
        let rendered = match (value, from_file) {
            (toml::Value::String(p), true) => match read_secret(Path::new(p)) {
                Ok(secret) => Ok((secret, Source::SecretFile(PathBuf::from(p)))),
                Err(e) => Err(format!("{at}: `{key}`: {e}")),
            },
            (_, true) => Err(format!("{at}: `{key}` is a path, in quotes")),
            (v, false) => render(v, k.delimiter).map(|s| (s, Source::File(at.clone()))).map_err(|e| format!("{at}: `{key}`: {e}")),
        };
        match rendered {
            Ok(v) => {
                out.insert(k.env.clone(), v);
            }
            Err(e) => problems.push(e),
        }
    };
    for (key, value) in &table {
        match value {
            toml::Value::Table(inner) => {
                for (k, v) in inner {
                    take(Some(key), k, v);
                }
            }
            v => take(None, key, v),
        }
    }
    if problems.is_empty() { Ok(out) } else { Err(problems.join("\n")) }
}

/// A value as its environment variable would spell it.
fn render(value: &toml::Value, delimiter: Option<char>) -> Result<String, String> {
    Ok(match value {
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => f.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        toml::Value::Array(items) => {
            let Some(d) = delimiter else { return Err("takes one value, not a list".into()) };
            let parts = items.iter().map(|i| render(i, None)).collect::<Result<Vec<_>, _>>()?;
            if let Some(bad) = parts.iter().find(|p| p.contains(d)) {
                return Err(format!("the item `{bad}` holds `{d}`, which separates items"));
            }
            parts.join(&d.to_string())
        }
        toml::Value::Datetime(d) => d.to_string(),
        toml::Value::Table(_) => return Err("a table here is one level too deep".into()),
    })
}

/// The line of every `key =` (by table), for pointing at a bad one. The file parsed as TOML
/// already, so a simple reading of its lines is enough.
fn key_lines(text: &str) -> BTreeMap<(String, String), usize> {
    let mut section = String::new();
    let mut lines = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.split(']').next()) {
            section = name.trim().trim_matches('"').to_string();
        } else if let Some((key, _)) = line.split_once('=') {
            let key = key.trim().trim_matches('"').to_string();
            if !key.is_empty() && !key.starts_with('#') {
                lines.entry((section.clone(), key)).or_insert(n + 1);
            }
        }
    }
    lines
}

/// Whether a setting holds a secret, so `config check` masks it.
pub fn secret(long: &str) -> bool {
    ["password", "token", "header"].iter().any(|w| long.contains(w)) && !long.ends_with("-file")
}

/// A database URL with its password masked.
pub fn mask_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.split_once('@') {
            Some((user, host)) if user.contains(':') => format!("{scheme}://{}:***@{host}", user.split(':').next().unwrap_or("")),
            _ => url.to_string(),
        },
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<BTreeMap<String, String>, String> {
        settings_in(Path::new("flowlens.toml"), text, &known()).map(|m| m.into_iter().map(|(k, (v, _))| (k, v)).collect())
    }

    #[test]
    fn keys_are_flags_and_tables_their_first_word() {
        let got = parse("port = 8080\ndatabase_url = \"postgres://db/x\"\ndemo = true\n[kafka]\nbrokers = \"b:9092\"\ntopics = [\"a\", \"b\"]\noptions = [\"client.id=x\", \"linger.ms=5\"]\n").unwrap();
        assert_eq!(got["FLOWLENS_PORT"], "8080");
        assert_eq!(got["DATABASE_URL"], "postgres://db/x");
        assert_eq!(got["FLOWLENS_DEMO"], "true");
        assert_eq!(got["FLOWLENS_KAFKA_BROKERS"], "b:9092");
        assert_eq!(got["FLOWLENS_KAFKA_TOPICS"], "a,b");
        assert_eq!(got["FLOWLENS_KAFKA_OPTIONS"], "client.id=x;linger.ms=5");
    }

    #[test]
    fn unknown_keys_and_wrong_shapes_are_refused_with_file_and_line() {
        let e = parse("port = 1\n\n[kafka]\nbrokers = \"x\"\nbrokres = \"y\"\n").unwrap_err();
        assert!(e.starts_with("flowlens.toml:5: unknown setting `brokres` in [kafka]"), "{e}");
        let e = parse("port = [1, 2]\n").unwrap_err();
        assert!(e.starts_with("flowlens.toml:1: `port`: takes one value"), "{e}");
        let e = parse("[kafka]\ntopics = [\"a,b\"]\n").unwrap_err();
        assert!(e.contains("flowlens.toml:2") && e.contains("separates items"), "{e}");
        let e = parse("port = \n").unwrap_err();
        assert!(e.contains("flowlens.toml") && e.contains("line 1"), "TOML's own error, placed: {e}");
        let e = parse("[admin]\npassword-file = \"/no/such/secret\"\n").unwrap_err();
        assert!(e.starts_with("flowlens.toml:2: `password-file`: /no/such/secret"), "{e}");
    }

    #[test]
    fn secrets_come_from_files() {
        let dir = std::env::temp_dir().join(format!("flowlens-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("pw"), "s3cret\n").unwrap();
        let got = parse(&format!("[admin]\npassword-file = \"{}\"\n", dir.join("pw").display())).unwrap();
        assert_eq!(got["FLOWLENS_ADMIN_PASSWORD"], "s3cret", "without the newline the platform's file ends with");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn masks() {
        assert_eq!(mask_url("postgres://flowlens:hunter2@db:5432/x?sslmode=require"), "postgres://flowlens:***@db:5432/x?sslmode=require");
        assert_eq!(mask_url("sqlite://flowlens.db"), "sqlite://flowlens.db");
        assert!(secret("kafka-sasl-password") && secret("admin-password") && secret("alert-header") && secret("kafka-oauth-token"));
        assert!(!secret("kafka-sasl-password-file") && !secret("port"));
    }

    #[test]
    fn the_config_flag_is_found_before_parsing() {
        let args: Vec<OsString> = ["flowlens", "serve", "--config=/etc/f.toml"].iter().map(OsString::from).collect();
        assert_eq!(named(&args), Some(PathBuf::from("/etc/f.toml")));
        let args: Vec<OsString> = ["flowlens", "config", "check", "--config", "f.toml"].iter().map(OsString::from).collect();
        assert_eq!(named(&args), Some(PathBuf::from("f.toml")));
    }
}
