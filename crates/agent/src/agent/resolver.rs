//! Resolves each setting of the table: flag, else environment, else config file, else default, and
//! records where the value came from for `check-config`.

use super::args::RunArgs;
use super::config::{ConfigError, ProcessEnv};
use super::config_file::FileValues;
use super::settings::{setting, Kind, Setting};

/// One explained setting: name, value as shown (never a secret), origin.
pub type Explained = (String, String, String);

pub(super) struct Resolver<'a> {
    given: &'a RunArgs,
    env: &'a ProcessEnv,
    pub(super) file: FileValues,
    pub(super) explained: Vec<Explained>,
}

impl<'a> Resolver<'a> {
    /// A resolver over the command line and the environment; `file` is loaded once `config` is known.
    pub(super) fn new(given: &'a RunArgs, env: &'a ProcessEnv) -> Self {
        Resolver {
            given,
            env,
            file: FileValues::default(),
            explained: Vec::new(),
        }
    }

    /// The raw values of a setting and their origin; no values: unset everywhere and no default.
    fn raw(&self, s: &Setting) -> Result<(Vec<String>, String), ConfigError> {
        let list = |values: Vec<String>| -> Vec<String> {
            match s.kind {
                // An empty value (the base ConfigMap's default) or a trailing separator names nothing.
                Kind::List(_) => values
                    .into_iter()
                    .filter(|v| !v.trim().is_empty())
                    .collect(),
                _ => values,
            }
        };
        if let Some(values) = self.given.given.get(s.key).cloned().map(list) {
            if !values.is_empty() {
                return Ok((values, format!("flag --{}", s.flag)));
            }
        }
        if let Some((name, text)) = s.env.and_then(|n| Some((n, self.env.vars.get(n)?))) {
            let values = list(match s.kind {
                Kind::List(delimiter) => text.split(delimiter).map(String::from).collect(),
                _ => vec![text.clone()],
            });
            if !values.is_empty() {
                return Ok((values, format!("environment {name}")));
            }
        }
        let from_file = list(match s.kind {
            Kind::List(_) => self.file.list(s.key)?,
            _ => self.file.text(s.key)?.into_iter().collect(),
        });
        if !from_file.is_empty() {
            let path = self
                .file
                .path
                .as_deref()
                .unwrap_or(std::path::Path::new(""));
            return Ok((from_file, format!("config file {}", path.display())));
        }
        Ok((
            s.default.map(String::from).into_iter().collect(),
            "default".into(),
        ))
    }

    fn resolve(
        &mut self,
        s: &Setting,
        default: Option<String>,
    ) -> Result<Vec<String>, ConfigError> {
        let (mut values, mut origin) = self.raw(s)?;
        if values.is_empty() && origin == "default" {
            values.extend(default);
        }
        if values.is_empty() {
            origin = "default".into();
        }
        if s.explained {
            let shown = match (s.kind, values.as_slice()) {
                (Kind::List(_), []) => "(none)".into(),
                (_, []) => "(unset)".into(),
                // A repository URL may carry a token (https://user:TOKEN@host/...): never shown.
                (_, [url]) if s.redact_url => crate::git::redact_url(url),
                (_, v) => v.join(", "),
            };
            self.explained.push((s.key.into(), shown, origin));
        }
        Ok(values)
    }

    /// A single value, if set or defaulted.
    pub(super) fn text(&mut self, key: &str) -> Result<Option<String>, ConfigError> {
        Ok(self.resolve(setting(key), None)?.pop())
    }

    /// A single value with a default computed at start-up (e.g. from the environment).
    pub(super) fn text_or(&mut self, key: &str, default: String) -> Result<String, ConfigError> {
        Ok(self
            .resolve(setting(key), Some(default.clone()))?
            .pop()
            .unwrap_or(default))
    }

    /// A single value parsed; the parser's message follows the flag's name.
    pub(super) fn parsed<T>(
        &mut self,
        key: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<Option<T>, ConfigError> {
        let s = setting(key);
        self.text(key)?
            .map(|text| parse(&text).map_err(|e| ConfigError(format!("--{} {e}", s.flag))))
            .transpose()
    }

    /// Like [`Self::parsed`] for a setting that must have a value (a default or given).
    pub(super) fn required<T>(
        &mut self,
        key: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        let s = setting(key);
        self.parsed(key, parse)?.ok_or_else(|| {
            ConfigError(format!(
                "no {key}: pass --{} {} (or {}, or {key}: in --config)",
                s.flag,
                s.value_name,
                s.env.unwrap_or("-")
            ))
        })
    }

    /// A list (empty: none given).
    pub(super) fn list(&mut self, key: &str) -> Result<Vec<String>, ConfigError> {
        self.resolve(setting(key), None)
    }

    /// A list, each item parsed.
    pub(super) fn parsed_list<T>(
        &mut self,
        key: &str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Vec<T>, ConfigError> {
        let flag = setting(key).flag;
        self.list(key)?
            .iter()
            .map(|text| parse(text).map_err(|e| ConfigError(format!("--{flag} {e}"))))
            .collect()
    }

    /// An on/off setting: `true` or `false`.
    pub(super) fn switch(&mut self, key: &str) -> Result<bool, ConfigError> {
        self.required(key, |text| match text {
            "true" => Ok(true),
            "false" => Ok(false),
            other => Err(format!("'{other}': expected true or false")),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    /// A resolver over the given flags, `SEALSYNC_*` variables and config-file text.
    fn check<T>(
        flags: &[(&'static str, &[&str])],
        vars: &[(&'static str, &str)],
        file: &str,
        read: impl FnOnce(&mut Resolver) -> T,
    ) -> (T, Vec<Explained>) {
        let given = RunArgs {
            given: flags
                .iter()
                .map(|(k, v)| (*k, v.iter().map(|s| s.to_string()).collect()))
                .collect(),
        };
        let env = ProcessEnv {
            vars: vars.iter().map(|(k, v)| (*k, v.to_string())).collect(),
            ..ProcessEnv::default()
        };
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(file.as_bytes()).unwrap();
        let mut r = Resolver::new(&given, &env);
        r.file = FileValues::load(Some(f.path())).unwrap();
        let out = read(&mut r);
        let explained = r
            .explained
            .into_iter()
            .map(|(k, v, o)| (k, v, o.replace(&f.path().display().to_string(), "F")))
            .collect();
        (out, explained)
    }

    fn origin(explained: &[Explained]) -> &str {
        &explained[0].2
    }

    #[test]
    fn one_value_flag_over_env_over_file_over_default() {
        let file = "interval: 3m\n";
        let env = [("SEALSYNC_INTERVAL", "2m")];
        let flag: [(&str, &[&str]); 1] = [("interval", &["1h"])];
        let (v, e) = check(&flag, &env, file, |r| r.text("interval").unwrap());
        assert_eq!((v.as_deref(), origin(&e)), (Some("1h"), "flag --interval"));
        let (v, e) = check(&[], &env, file, |r| r.text("interval").unwrap());
        assert_eq!(
            (v.as_deref(), origin(&e)),
            (Some("2m"), "environment SEALSYNC_INTERVAL")
        );
        let (v, e) = check(&[], &[], file, |r| r.text("interval").unwrap());
        assert_eq!((v.as_deref(), origin(&e)), (Some("3m"), "config file F"));
        let (v, e) = check(&[], &[], "", |r| r.text("interval").unwrap());
        assert_eq!((v.as_deref(), origin(&e)), (Some("1m"), "default"));
        let (v, e) = check(&[], &[], "", |r| r.text("ref").unwrap());
        assert_eq!((v, e[0].1.as_str()), (None, "(unset)"));
    }

    #[test]
    fn list_flag_over_env_over_file_over_default() {
        let file = "paths: [c, d]\n";
        let env = [("SEALSYNC_PATH", "b1,,b2")];
        let flag: [(&str, &[&str]); 1] = [("paths", &["a"])];
        let (v, e) = check(&flag, &env, file, |r| r.list("paths").unwrap());
        assert_eq!((v, origin(&e)), (vec!["a".to_string()], "flag --path"));
        let (v, e) = check(&[], &env, file, |r| r.list("paths").unwrap());
        assert_eq!(
            (v, origin(&e)),
            (vec!["b1".into(), "b2".into()], "environment SEALSYNC_PATH")
        );
        let (v, e) = check(&[], &[], file, |r| r.list("paths").unwrap());
        assert_eq!((v, e[0].1.as_str()), (vec!["c".into(), "d".into()], "c, d"));
        // An empty variable (the base ConfigMap's) names no rule: the file's value holds.
        let env = [("SEALSYNC_NAMESPACE_POLICY", ";")];
        let file = "namespace_policy: 'a/**=x'\n";
        let (v, e) = check(&[], &env, file, |r| r.list("namespace_policy").unwrap());
        assert_eq!(
            (v, origin(&e)),
            (vec!["a/**=x".to_string()], "config file F")
        );
        let (v, e) = check(&[], &[], "", |r| r.list("paths").unwrap());
        assert_eq!(
            (v.len(), e[0].1.as_str(), origin(&e)),
            (0, "(none)", "default")
        );
    }

    #[test]
    fn switch_flag_over_env_over_file_over_default() {
        let file = "allow_adopt: false\n";
        let env = [("SEALSYNC_ALLOW_ADOPT", "true")];
        let flag: [(&str, &[&str]); 1] = [("allow_adopt", &["true"])];
        let (v, e) = check(&flag, &[], file, |r| r.switch("allow_adopt").unwrap());
        assert_eq!((v, origin(&e)), (true, "flag --allow-adopt"));
        let (v, e) = check(&[], &env, file, |r| r.switch("allow_adopt").unwrap());
        assert_eq!((v, origin(&e)), (true, "environment SEALSYNC_ALLOW_ADOPT"));
        let (v, e) = check(&[], &[], "allow_adopt: true\n", |r| {
            r.switch("allow_adopt").unwrap()
        });
        assert_eq!((v, origin(&e)), (true, "config file F"));
        let (v, e) = check(&[], &[], file, |r| r.switch("allow_adopt").unwrap());
        assert_eq!((v, origin(&e)), (false, "config file F"));
        let (v, e) = check(&[], &[], "", |r| r.switch("allow_adopt").unwrap());
        assert_eq!((v, origin(&e)), (false, "default"));
        let (v, _) = check(&[], &[], "once: true\n", |r| r.switch("once").unwrap());
        assert!(v);
        let env = [("SEALSYNC_ALLOW_ADOPT", "yes")];
        let (v, _) = check(&[], &env, "", |r| r.switch("allow_adopt"));
        assert_eq!(
            v.unwrap_err().0,
            "--allow-adopt 'yes': expected true or false"
        );
    }

    #[test]
    fn parsed_and_computed_defaults_name_the_flag() {
        let env = [("SEALSYNC_MAX_FILES", "x")];
        let (v, _) = check(&[], &env, "", |r| {
            r.required("max_files", |t| t.parse::<u8>().map_err(|e| e.to_string()))
        });
        assert!(v.unwrap_err().0.starts_with("--max-files "));
        let (v, e) = check(&[], &[], "", |r| {
            r.text_or("cache_dir", "/c".into()).unwrap()
        });
        assert_eq!(
            (v.as_str(), e[0].1.as_str(), origin(&e)),
            ("/c", "/c", "default")
        );
        let (v, e) = check(&[], &[], "cache_dir: /f\n", |r| {
            r.text_or("cache_dir", "/c".into()).unwrap()
        });
        assert_eq!((v.as_str(), origin(&e)), ("/f", "config file F"));
        let (v, _) = check(&[], &[], "", |r| r.required("repo", |t| Ok(t.to_string())));
        assert_eq!(
            v.unwrap_err().0,
            "no repo: pass --repo URL (or SEALSYNC_REPO, or repo: in --config)"
        );
    }

    #[test]
    fn resolve_reads_every_setting_and_redacts_the_url() {
        let env = ProcessEnv {
            vars: [(
                "SEALSYNC_REPO",
                "https://bot:TOKEN@git.example/x.git".to_string(),
            )]
            .into(),
            ..ProcessEnv::default()
        };
        let config = crate::agent::config::AgentConfig::resolve(&RunArgs::default(), &env).unwrap();
        let shown: Vec<&str> = config
            .explained
            .iter()
            .map(|(k, _, _)| k.as_str())
            .collect();
        let expected: Vec<&str> = crate::agent::settings::SETTINGS
            .iter()
            .filter(|s| s.explained)
            .map(|s| s.key)
            .chain(["identities (environment)"])
            .collect();
        assert_eq!(shown, expected);
        assert!(!format!("{:?}", config.explained).contains("TOKEN"));
    }
}
