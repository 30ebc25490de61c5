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
