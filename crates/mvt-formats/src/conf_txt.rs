//! Reads the original `conf/conf.txt` unchanged and maps it onto [`Config`].
//!
//! The original read it with Python's `ConfigParser` and then `eval`ed every value, keeping the raw text when
//! `eval` failed. This module does the same without evaluating anything: values are parsed as Python literals
//! (ints, floats, quoted strings, lists, tuples, `True` / `False` / `None`); text that is not a literal stays a
//! string. Section names are matched case-insensitively (the original upper-cased them), keys are lower-cased
//! (as `ConfigParser` does), `key: value` works like `key = value`, lines starting with `#` or `;` are comments,
//! and indented lines continue the previous value. Keys this project adds are listed in `docs/data.md`.

use std::path::{Path, PathBuf};

use crate::config::{Config, InferConfig, LossType, ModelConfig, PoolMode, TextEncoder, TrainConfig};

#[derive(Debug, thiserror::Error)]
pub enum ConfError {
    #[error("cannot read {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("conf line {line}: {msg}")]
    Syntax { line: usize, msg: String },
    #[error("conf [{section}] {key} (line {line}): {msg}")]
    BadValue { section: String, key: String, line: usize, msg: String },
    #[error("conf [{section}] {key} is missing")]
    Missing { section: String, key: String },
}

/// A value as the original's `eval` would have produced it (only literals are understood).
#[derive(Clone, Debug, PartialEq)]
pub enum Literal {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// A quoted string, or any text that is not a Python literal (the original kept such values as text).
    Str(String),
    List(Vec<Literal>),
    Tuple(Vec<Literal>),
}

/// One `key = value` line.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub key: String,
    pub value: Literal,
    /// 1-based line of the key in the file.
    pub line: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Section {
    pub name: String,
    pub entries: Vec<Entry>,
}

/// The parsed INI file, in file order.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct ConfFile {
    pub sections: Vec<Section>,
}

impl ConfFile {
    pub fn read(path: &Path) -> Result<Self, ConfError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfError::Io { path: path.to_owned(), source })?;
        Self::parse(&text)
    }

    pub fn parse(text: &str) -> Result<Self, ConfError> {
        // Values are collected as raw text first (continuation lines join them), then parsed as literals.
        let mut sections: Vec<Section> = Vec::new();
        let mut raw_values: Vec<String> = Vec::new(); // of the current section's entries
        for (index, raw_line) in text.lines().enumerate() {
            let line = index + 1;
            let syntax = |msg: String| ConfError::Syntax { line, msg };
            let trimmed = raw_line.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
                continue;
            }
            if raw_line.starts_with([' ', '\t']) {
                if let Some(value) = raw_values.last_mut() {
                    value.push('\n');
                    value.push_str(trimmed);
                    continue;
                }
            }
            if let Some(name) = trimmed.strip_prefix('[') {
                let name = name.strip_suffix(']').ok_or_else(|| syntax(format!("bad section header {trimmed:?}")))?;
                let name = name.trim().to_string();
                if sections.iter().any(|s| s.name.eq_ignore_ascii_case(&name)) {
                    return Err(syntax(format!("section [{name}] appears twice")));
                }
                finish_section(sections.last_mut(), &mut raw_values);
                sections.push(Section { name, entries: Vec::new() });
                continue;
            }
            let section = sections.last_mut().ok_or_else(|| syntax("a key before any [SECTION] header".into()))?;
            let split =
                trimmed.find(['=', ':']).ok_or_else(|| syntax(format!("expected `key = value`, got {trimmed:?}")))?;
            let key = trimmed[..split].trim().to_lowercase();
            if key.is_empty() {
                return Err(syntax("empty key".into()));
            }
            if section.entries.iter().any(|e| e.key == key) {
                return Err(syntax(format!("key {key} appears twice in its section")));
            }
            section.entries.push(Entry { key, value: Literal::None, line });
            raw_values.push(trimmed[split + 1..].trim().to_string());
        }
        finish_section(sections.last_mut(), &mut raw_values);
        Ok(ConfFile { sections })
    }

    /// The entry of `key` in `section` (case-insensitive section name), falling back to `[DEFAULT]` as
    /// `ConfigParser` does.
    pub fn get(&self, section: &str, key: &str) -> Option<&Entry> {
        let find = |name: &str| {
            self.sections
                .iter()
                .find(|s| s.name.eq_ignore_ascii_case(name))
                .and_then(|s| s.entries.iter().find(|e| e.key == key))
        };
        find(section).or_else(|| find("DEFAULT"))
    }
}

/// Parses the raw values collected for a section's entries.
fn finish_section(section: Option<&mut Section>, raw_values: &mut Vec<String>) {
    if let Some(section) = section {
        for (entry, raw) in section.entries.iter_mut().zip(raw_values.drain(..)) {
            entry.value = parse_literal(&raw);
        }
    }
}

/// A Python literal, or the trimmed text itself when it is not one (what the original's `eval` fallback did).
pub fn parse_literal(text: &str) -> Literal {
    let mut parser = LiteralParser { text: text.as_bytes(), pos: 0, depth: 0 };
    match parser.top_level() {
        Some(value) => value,
        None => Literal::Str(text.trim().to_string()),
    }
}

/// Literals nested deeper than this are kept as text (a conf value nests 2 levels).
const MAX_LITERAL_DEPTH: usize = 32;

struct LiteralParser<'a> {
    text: &'a [u8],
    pos: usize,
    depth: usize,
}

impl LiteralParser<'_> {
    fn top_level(&mut self) -> Option<Literal> {
        let first = self.value()?;
        // `a, b` without brackets is a tuple in Python.
        let value = if self.eat(b',') {
            let mut items = vec![first];
            self.sequence_tail(&mut items, None)?;
            Literal::Tuple(items)
        } else {
            first
        };
        self.skip_space();
        // A trailing `# comment` is ignored by eval.
        (self.pos == self.text.len() || self.text[self.pos] == b'#').then_some(value)
    }

    fn skip_space(&mut self) {
        while self.pos < self.text.len() && self.text[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> bool {
        self.skip_space();
        if self.text.get(self.pos) == Some(&byte) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn value(&mut self) -> Option<Literal> {
        self.skip_space();
        self.depth += 1;
        if self.depth > MAX_LITERAL_DEPTH {
            return None;
        }
        let value = match *self.text.get(self.pos)? {
            b'[' => {
                self.pos += 1;
                let mut items = Vec::new();
                self.sequence_tail(&mut items, Some(b']'))?;
                Literal::List(items)
            }
            b'(' => {
                self.pos += 1;
                if self.eat(b')') {
                    Literal::Tuple(Vec::new())
                } else {
                    let first = self.value()?;
                    if self.eat(b')') {
                        first // `(x)` is just x
                    } else if self.eat(b',') {
                        let mut items = vec![first];
                        self.sequence_tail(&mut items, Some(b')'))?;
                        Literal::Tuple(items)
                    } else {
                        return None;
                    }
                }
            }
            b'\'' | b'"' => Literal::Str(self.string()?),
            b'-' | b'+' => {
                let negative = self.text[self.pos] == b'-';
                self.pos += 1;
                match self.value()? {
                    Literal::Int(i) if negative => Literal::Int(i.checked_neg()?),
                    Literal::Float(f) if negative => Literal::Float(-f),
                    v @ (Literal::Int(_) | Literal::Float(_)) => v,
                    _ => return None,
                }
            }
            b'0'..=b'9' | b'.' => self.number()?,
            _ => {
                let start = self.pos;
                while self.pos < self.text.len()
                    && (self.text[self.pos].is_ascii_alphanumeric() || self.text[self.pos] == b'_')
                {
                    self.pos += 1;
                }
                match &self.text[start..self.pos] {
                    b"True" => Literal::Bool(true),
                    b"False" => Literal::Bool(false),
                    b"None" => Literal::None,
                    _ => return None,
                }
            }
        };
        self.depth -= 1;
        Some(value)
    }

    /// Items after an opening bracket or a first item and comma, up to `close` (a trailing comma is allowed).
    fn sequence_tail(&mut self, items: &mut Vec<Literal>, close: Option<u8>) -> Option<()> {
        loop {
            if let Some(close) = close {
                if self.eat(close) {
                    return Some(());
                }
            } else {
                self.skip_space();
                if self.pos == self.text.len() || self.text[self.pos] == b'#' {
                    return Some(());
                }
            }
            items.push(self.value()?);
            if !self.eat(b',') {
                return match close {
                    Some(close) => self.eat(close).then_some(()),
                    None => Some(()),
                };
            }
        }
    }

    fn number(&mut self) -> Option<Literal> {
        let start = self.pos;
        let mut is_float = false;
        while let Some(&c) = self.text.get(self.pos) {
            match c {
                b'0'..=b'9' | b'_' => {}
                b'.' => is_float = true,
                b'e' | b'E' => {
                    is_float = true;
                    if matches!(self.text.get(self.pos + 1), Some(b'+' | b'-')) {
                        self.pos += 1;
                    }
                }
                _ => break,
            }
            self.pos += 1;
        }
        let token = std::str::from_utf8(&self.text[start..self.pos]).ok()?;
        if token.starts_with('_') || token.ends_with('_') || token.contains("__") {
            return None;
        }
        let digits = token.replace('_', "");
        if is_float {
            digits.parse().ok().map(Literal::Float)
        } else if digits.len() > 1 && digits.starts_with('0') {
            None // Python 3 rejects leading zeros such as 010
        } else {
            digits.parse().ok().map(Literal::Int)
        }
    }

    fn string(&mut self) -> Option<String> {
        let quote = self.text[self.pos];
        self.pos += 1;
        let mut out = Vec::new();
        loop {
            let c = *self.text.get(self.pos)?;
            self.pos += 1;
            match c {
                c if c == quote => break,
                b'\n' => return None,
                b'\\' => {
                    let escaped = *self.text.get(self.pos)?;
                    self.pos += 1;
                    match escaped {
                        b'n' => out.push(b'\n'),
                        b't' => out.push(b'\t'),
                        b'r' => out.push(b'\r'),
                        b'\\' | b'\'' | b'"' => out.push(escaped),
                        other => out.extend_from_slice(&[b'\\', other]),
                    }
                }
                c => out.push(c),
            }
        }
        String::from_utf8(out).ok()
    }
}

impl Literal {
    fn describe(&self) -> String {
        match self {
            Literal::Str(s) => format!("the text {s:?}"),
            other => format!("{other:?}"),
        }
    }
}

/// Typed access to one conf file, with errors that name the section, key and line.
struct Reader<'a> {
    conf: &'a ConfFile,
}

impl Reader<'_> {
    fn entry(&self, section: &str, key: &str) -> Result<&Entry, ConfError> {
        self.conf.get(section, key).ok_or_else(|| ConfError::Missing { section: section.into(), key: key.into() })
    }

    fn bad(&self, section: &str, entry: &Entry, msg: String) -> ConfError {
        ConfError::BadValue { section: section.into(), key: entry.key.clone(), line: entry.line, msg }
    }

    /// The value of a required key converted by `convert`, or of an added key (`default` when absent).
    fn typed<T>(
        &self,
        section: &str,
        key: &str,
        default: Option<T>,
        expected: &str,
        convert: impl Fn(&Literal) -> Option<T>,
    ) -> Result<T, ConfError> {
        let entry = match (self.conf.get(section, key), default) {
            (Some(entry), _) => entry,
            (None, Some(default)) => return Ok(default),
            (None, None) => return Err(ConfError::Missing { section: section.into(), key: key.into() }),
        };
        convert(&entry.value)
            .ok_or_else(|| self.bad(section, entry, format!("expected {expected}, found {}", entry.value.describe())))
    }

    fn count(&self, section: &str, key: &str, default: Option<usize>) -> Result<usize, ConfError> {
        self.typed(section, key, default, "a non-negative integer", as_count)
    }

    fn positive(&self, section: &str, key: &str, default: Option<usize>) -> Result<usize, ConfError> {
        self.typed(section, key, default, "a positive integer", |v| as_count(v).filter(|&n| n > 0))
    }

    fn number(&self, section: &str, key: &str, default: Option<f64>) -> Result<f64, ConfError> {
        self.typed(section, key, default, "a number", as_number)
    }

    fn probability(&self, section: &str, key: &str, default: Option<f64>) -> Result<f64, ConfError> {
        self.typed(section, key, default, "a number in [0, 1)", |v| as_number(v).filter(|p| (0.0..1.0).contains(p)))
    }

    fn flag(&self, section: &str, key: &str, default: Option<bool>) -> Result<bool, ConfError> {
        self.typed(section, key, default, "True or False", |v| match v {
            Literal::Bool(b) => Some(*b),
            _ => None,
        })
    }

    fn text(&self, section: &str, key: &str) -> Result<String, ConfError> {
        self.typed(section, key, None, "a string", |v| match v {
            Literal::Str(s) => Some(s.clone()),
            _ => None,
        })
    }

    fn counts(&self, section: &str, key: &str, default: Option<Vec<usize>>) -> Result<Vec<usize>, ConfError> {
        self.typed(section, key, default, "a list of non-negative integers", |v| {
            items(v)?.iter().map(as_count).collect()
        })
    }

    /// `feature_dims = [[2048], [128], [5, 50, 1]]` named by `feature_names = ['rgb', 'audio', 'text']`: the
    /// first dimension of the named feature (positions 0 and 1 when `feature_names` is absent).
    fn feature_dim(&self, name: &str, position: usize) -> Result<usize, ConfError> {
        let names = self.typed("MODEL", "feature_names", Some(Vec::new()), "a list of strings", |v| {
            items(v)?
                .iter()
                .map(|n| match n {
                    Literal::Str(s) => Some(s.clone()),
                    _ => None,
                })
                .collect()
        })?;
        let index = if names.is_empty() {
            position
        } else {
            let found = names.iter().position(|n| n == name);
            let entry = self.entry("MODEL", "feature_names")?;
            found.ok_or_else(|| self.bad("MODEL", entry, format!("no feature named {name:?}")))?
        };
        let entry = self.entry("MODEL", "feature_dims")?;
        let dims = items(&entry.value).and_then(|all| all.get(index)).and_then(|dims| match dims {
            width @ Literal::Int(_) => as_count(width),
            other => items(other)?.first().and_then(as_count),
        });
        dims.filter(|&d| d > 0).ok_or_else(|| {
            self.bad("MODEL", entry, format!("entry {index} ({name}) is not a list starting with a positive width"))
        })
    }
}

fn as_count(value: &Literal) -> Option<usize> {
    match value {
        Literal::Int(i) => usize::try_from(*i).ok(),
        _ => None,
    }
}

fn as_number(value: &Literal) -> Option<f64> {
    match value {
        Literal::Int(i) => Some(*i as f64),
        Literal::Float(f) if f.is_finite() => Some(*f),
        _ => None,
    }
}

fn items(value: &Literal) -> Option<&[Literal]> {
    match value {
        Literal::List(items) | Literal::Tuple(items) => Some(items),
        _ => None,
    }
}

/// Width of the trainable token embedding used when no pretrained encoder is given (ERNIE's hidden size).
const DEFAULT_TEXT_EMBEDDING_DIM: usize = 768;

impl Config {
    /// Reads and maps a conf file (see [`Config::from_conf`]).
    pub fn from_conf_file(path: &Path) -> Result<Self, ConfError> {
        Self::from_conf(&ConfFile::read(path)?)
    }

    /// Maps the original's keys (all required, as the original required them) and this project's added keys
    /// (optional, with defaults; see docs/data.md). The text encoder is `Embedding { vocab_size: 0, dim }`:
    /// the trainer sets the vocabulary or a pretrained encoder.
    pub fn from_conf(conf: &ConfFile) -> Result<Self, ConfError> {
        let r = Reader { conf };
        let loss_type = r.typed("TRAIN", "loss_type", None, "\"sigmoid\" or \"softmax\"", |v| match v {
            Literal::Str(s) if s == "sigmoid" => Some(LossType::Sigmoid),
            Literal::Str(s) if s == "softmax" => Some(LossType::Softmax),
            _ => None,
        })?;
        let pool_mode = match r.text("MODEL", "lstm_pool_mode")?.as_str() {
            "text_guide" => PoolMode::TextGuide,
            _ => PoolMode::SelfAttention,
        };
        let textcnn_windows =
            r.typed("MODEL", "textcnn_windows", Some(vec![2, 3, 4]), "a non-empty list of positive integers", |v| {
                let windows: Vec<usize> =
                    items(v)?.iter().map(|w| as_count(w).filter(|&w| w > 0)).collect::<Option<_>>()?;
                (!windows.is_empty()).then_some(windows)
            })?;
        let model = ModelConfig {
            num_classes: r.positive("MODEL", "num_classes", None)?,
            rgb_dim: r.feature_dim("rgb", 0)?,
            audio_dim: r.feature_dim("audio", 1)?,
            lstm_size_img: r.positive("MODEL", "lstm_size_img", None)?,
            lstm_size_audio: r.positive("MODEL", "lstm_size_audio", None)?,
            drop_rate: r.probability("MODEL", "drop_rate", None)?,
            text_max_len: r.typed("MODEL", "text_max_len", None, "an integer >= 3 ([CLS], a token, [SEP])", |v| {
                as_count(v).filter(|&n| n >= 3)
            })?,
            pool_mode,
            use_rgb: r.flag("MODEL", "use_rgb", Some(true))?,
            use_audio: r.flag("MODEL", "use_audio", Some(true))?,
            use_text: r.flag("MODEL", "use_text", Some(true))?,
            text_encoder: TextEncoder::Embedding {
                vocab_size: 0,
                dim: r.positive("MODEL", "text_embedding_dim", Some(DEFAULT_TEXT_EMBEDDING_DIM))?,
            },
            ernie_freeze: r.flag("MODEL", "ernie_freeze", None)?,
            textcnn_windows,
            textcnn_filters: r.positive("MODEL", "textcnn_filters", Some(256))?,
            loss_type,
        };
        let train = TrainConfig {
            epochs: r.count("TRAIN", "epoch", None)?,
            learning_rate: r.number("TRAIN", "learning_rate", None)?,
            decay_gamma: r.number("TRAIN", "decay_gamma", None)?,
            decay_epochs: r.counts("TRAIN", "decay_epochs", None)?,
            l2_weight_decay: r.number("TRAIN", "l2_weight_decay", None)?,
            batch_size: r.positive("TRAIN", "batch_size", None)?,
            valid_batch_size: r.positive("VALID", "batch_size", None)?,
            early_stop: r.count("TRAIN", "early_stop", None)?,
            title_drop_rate: r.probability("TRAIN", "title_drop_rate", Some(0.0))?,
        };
        let infer = InferConfig {
            threshold: r.number("INFER", "threshold", None)?,
            batch_size: r.positive("INFER", "batch_size", None)?,
        };
        if !(model.use_rgb || model.use_audio || model.use_text) {
            let entry = r.entry("MODEL", "use_text")?;
            return Err(r.bad(
                "MODEL",
                entry,
                "use_rgb, use_audio and use_text are all False: nothing to classify".into(),
            ));
        }
        Ok(Config { model, train, infer })
    }
}
