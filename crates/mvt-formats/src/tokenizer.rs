//! Title tokenization: the original's BERT semantics, as one `tokenizers` pipeline serializable as tokenizer.json.
//!
//! Lowercase, accents stripped (NFD, nonspacing marks dropped), control characters removed, whitespace unified,
//! CJK characters one per token, punctuation split, greedy longest-match WordPiece with `##` (words over 100
//! characters -> [UNK]), then `[CLS] tokens [SEP]` truncated to `max_len` ids in all. The trainer and the
//! library share this one definition; the model file carries it as JSON.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::path::Path;

use tokenizers::models::wordpiece::WordPiece;
use tokenizers::normalizers::replace::ReplacePattern;
use tokenizers::normalizers::{BertNormalizer, Lowercase, Replace, Sequence as NormalizerSequence, NFD};
use tokenizers::pre_tokenizers::sequence::Sequence as PreTokenizerSequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::pre_tokenizers::whitespace::WhitespaceSplit;
use tokenizers::processors::template::TemplateProcessing;
use tokenizers::{
    Normalizer, OffsetReferential, OffsetType, PreTokenizedString, PreTokenizer, SplitDelimiterBehavior, Tokenizer,
    TruncationDirection, TruncationParams, TruncationStrategy,
};

pub const PAD: &str = "[PAD]";
pub const UNK: &str = "[UNK]";
pub const CLS: &str = "[CLS]";
pub const SEP: &str = "[SEP]";
pub const MASK: &str = "[MASK]";

/// BERT's limit: a longer word becomes a single [UNK].
const MAX_CHARS_PER_WORD: usize = 100;

/// The first prefix [`TitleTokenizer::bounded_prefix`] tries, in characters per id of `max_len` (800 characters
/// for 50 ids: far more than 48 word pieces need in any real title).
const PREFIX_CHARS_PER_ID: usize = 16;

/// The longest prefix of a title [`TitleTokenizer::encode`] tokenizes (characters). A title whose first
/// max_len - 2 word pieces do not lie within it is refused ([`TokenizerError::TitleTooLong`]) rather than
/// tokenized whole: that needs words of over 100 characters or long runs of characters the normalizer drops, and
/// the pipeline keeps about 100 bytes per byte of text (a 24 MB word: 1.4 GB, 16 s). 64 Ki characters cost at most
/// a few tens of MB, and hold 48 word pieces of even the longest words (101 characters each: 4 848).
pub const MAX_TITLE_PREFIX_CHARS: usize = 65_536;

/// A character that no text after it can see past, and that ends any word before it: whitespace the normalizer
/// keeps, a CJK character (the normalizer puts spaces around it) and ASCII punctuation (a word of its own) other
/// than the case-ignorable `'` `.` `:` `^` `` ` `` (which the final sigma rule looks past). Each is its own NFD
/// (combining class 0: no mark reorders across it), neither cased nor case-ignorable, and never dropped.
fn is_blocking(c: char) -> bool {
    (c.is_whitespace() && !matches!(c, '\u{b}' | '\u{c}' | '\u{85}'))
        || (c.is_ascii_punctuation() && !matches!(c, '\'' | '.' | ':' | '^' | '`'))
        || is_cjk(c)
}

/// The CJK characters `BertNormalizer` puts spaces around (its own table).
fn is_cjk(c: char) -> bool {
    matches!(
        c as u32,
        0x4E00..=0x9FFF
            | 0x3400..=0x4DBF
            | 0x20000..=0x2A6DF
            | 0x2A700..=0x2B73F
            | 0x2B740..=0x2B81F
            | 0x2B920..=0x2CEAF
            | 0xF900..=0xFAFF
            | 0x2F800..=0x2FA1F
    )
}

#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    #[error("cannot read vocabulary {path}: {source}")]
    ReadVocab { path: String, source: std::io::Error },
    #[error("vocabulary lacks the special token {0}")]
    MissingSpecial(&'static str),
    #[error("vocabulary repeats the token {0:?}")]
    DuplicateToken(String),
    #[error("max_len {0} leaves no room for a token between [CLS] and [SEP] (need >= 3)")]
    MaxLenTooSmall(usize),
    #[error("tokenizer.json has no truncation settings (the maximum title length)")]
    NoTruncation,
    #[error(
        "the title's first {pieces} word pieces do not lie within its first {MAX_TITLE_PREFIX_CHARS} characters \
         (words of over 100 characters or characters the normalizer drops fill them): it is refused to bound the work"
    )]
    TitleTooLong { pieces: usize },
    #[error("tokenizers: {0}")]
    Tokenizers(#[from] tokenizers::Error),
}

/// The one title tokenizer of the trainer and the library.
#[derive(Clone)]
pub struct TitleTokenizer {
    inner: Tokenizer,
    /// `inner` without truncation: every word piece of a prefix, with its word and offsets ([`Self::bounded_prefix`]).
    untruncated: Tokenizer,
    max_len: usize,
    pad_id: i64,
}

impl std::fmt::Debug for TitleTokenizer {
    // The vocabulary is too long to print; its size and the length limit say which tokenizer this is.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TitleTokenizer")
            .field("vocab_size", &self.vocab_size())
            .field("max_len", &self.max_len)
            .field("pad_id", &self.pad_id)
            .finish()
    }
}

impl TitleTokenizer {
    /// From a BERT `vocab.txt` (one token per line; the line number is the id).
    pub fn from_vocab_file(path: impl AsRef<Path>, max_len: usize) -> Result<Self, TokenizerError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|source| TokenizerError::ReadVocab { path: path.display().to_string(), source })?;
        // Python's `readlines` + `rstrip("\n")`: a final line without newline still counts, a trailing "\r" stays.
        Self::from_vocab(text.split_terminator('\n').map(str::to_owned).collect(), max_len)
    }

    /// From the tokens in id order.
    pub fn from_vocab(tokens: Vec<String>, max_len: usize) -> Result<Self, TokenizerError> {
        if max_len < 3 {
            return Err(TokenizerError::MaxLenTooSmall(max_len));
        }
        // An empty map of the (ahash) type WordPiece takes, without depending on ahash ourselves.
        let mut vocab = WordPiece::read_bytes(b"")?;
        for (id, token) in tokens.into_iter().enumerate() {
            match vocab.entry(token) {
                Entry::Occupied(repeated) => return Err(TokenizerError::DuplicateToken(repeated.key().clone())),
                Entry::Vacant(slot) => {
                    slot.insert(id as u32);
                }
            }
        }
        let special = |name: &'static str| vocab.get(name).copied().ok_or(TokenizerError::MissingSpecial(name));
        let (cls, sep) = (special(CLS)?, special(SEP)?);
        special(PAD)?;
        special(UNK)?;
        let model = WordPiece::builder()
            .vocab(vocab)
            .unk_token(UNK.to_owned())
            .continuing_subword_prefix("##".to_owned())
            .max_input_chars_per_word(MAX_CHARS_PER_WORD)
            .build()?;
        let post_processor = TemplateProcessing::builder()
            .try_single(format!("{CLS} $A {SEP}"))
            .map_err(tokenizers::Error::from)?
            .special_tokens(vec![(CLS, cls), (SEP, sep)])
            .build()
            .map_err(tokenizers::Error::from)?;
        let mut inner = Tokenizer::new(model);
        inner
            .with_normalizer(Some(normalizer()?))?
            .with_pre_tokenizer(Some(pre_tokenizer()?))
            .with_post_processor(Some(post_processor))
            .with_truncation(Some(TruncationParams {
                direction: TruncationDirection::Right,
                max_length: max_len,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
            }))?;
        Self::wrap(inner)
    }

    /// From a tokenizer.json written by [`TitleTokenizer::to_json`].
    pub fn from_json(json: &str) -> Result<Self, TokenizerError> {
        Self::wrap(json.parse::<Tokenizer>()?)
    }

    fn wrap(inner: Tokenizer) -> Result<Self, TokenizerError> {
        let max_len = inner.get_truncation().ok_or(TokenizerError::NoTruncation)?.max_length;
        if max_len < 3 {
            return Err(TokenizerError::MaxLenTooSmall(max_len));
        }
        let pad_id = inner.token_to_id(PAD).ok_or(TokenizerError::MissingSpecial(PAD))?;
        let mut untruncated = inner.clone();
        untruncated.with_truncation(None)?;
        Ok(Self { inner, untruncated, max_len, pad_id: i64::from(pad_id) })
    }

    /// The tokenizer.json text (normalizer, pre-tokenizer, WordPiece vocabulary, template, truncation).
    pub fn to_json(&self) -> String {
        // Serializing plain data structures (maps, strings, numbers) cannot fail.
        self.inner.to_string(false).expect("tokenizer serializes to JSON")
    }

    /// Maximum ids per title, [CLS] and [SEP] included.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// The largest token id of the vocabulary (`None` when it is empty): ids index the encoder's embedding table,
    /// so a model file's reader checks it against the encoder's `vocab_size`.
    pub fn max_token_id(&self) -> Option<u32> {
        self.inner.get_vocab(true).into_values().max()
    }

    /// The id that fills the batch past each title's [SEP].
    pub fn pad_id(&self) -> i64 {
        self.pad_id
    }

    /// `[CLS] tokens [SEP]` ids, at most `max_len` of them; an empty title gives `[CLS] [SEP]`. The ids of
    /// [`Self::encode_whole`], from a bounded prefix of the title ([`Self::bounded_prefix`]).
    pub fn encode(&self, title: &str) -> Result<Vec<i64>, TokenizerError> {
        self.encode_whole(self.bounded_prefix(title)?)
    }

    /// The definition of the ids: the whole title through the pipeline, then truncated. Its cost grows with the
    /// title (the `tokenizers` pipeline keeps about 100 bytes per byte of text); [`Self::encode`] gives the same ids
    /// for a bounded cost on long titles.
    pub fn encode_whole(&self, title: &str) -> Result<Vec<i64>, TokenizerError> {
        let encoding = self.inner.encode(title, true)?;
        Ok(encoding.get_ids().iter().map(|&id| i64::from(id)).collect())
    }

    /// The prefix of `title` that [`Self::encode`] tokenizes: one whose ids equal the whole title's. Short titles
    /// (up to 16 x max_len characters) are their own prefix; a longer one is tried in prefixes of 16 x max_len
    /// characters, doubling, until one provably yields the whole title's first max_len - 2 word pieces (see
    /// [`Self::prefix_suffices`]), up to [`MAX_TITLE_PREFIX_CHARS`]: a title of at most that many characters is
    /// its own prefix, a longer one whose word pieces lie further in is refused with
    /// [`TokenizerError::TitleTooLong`]. Only a title whose first max_len - 2 word pieces lie far in (words of more
    /// than 100 characters, long runs of characters the normalizer drops) needs a long prefix.
    pub fn bounded_prefix<'t>(&self, title: &'t str) -> Result<&'t str, TokenizerError> {
        let mut window = (PREFIX_CHARS_PER_ID * self.max_len).min(MAX_TITLE_PREFIX_CHARS);
        loop {
            // The window's end and its middle, as byte offsets (the title ends before the window: all of it).
            let Some((end, _)) = title.char_indices().nth(window) else { return Ok(title) };
            let middle = title.char_indices().nth(window / 2).map_or(0, |(at, _)| at);
            // Prefer a cut right before a blocking character: nothing after it can change the prefix's words.
            let blocked_cut = title[middle..]
                .char_indices()
                .map(|(at, c)| (middle + at, c))
                .take_while(|(at, _)| *at <= end)
                .filter(|(_, c)| is_blocking(*c))
                .last()
                .map(|(at, _)| at);
            let cut = blocked_cut.unwrap_or(end);
            let prefix = &title[..cut];
            if self.prefix_suffices(prefix, blocked_cut.is_some())? {
                return Ok(prefix);
            }
            if window >= MAX_TITLE_PREFIX_CHARS {
                return Err(TokenizerError::TitleTooLong { pieces: self.max_len - 2 });
            }
            window = window.saturating_mul(2).min(MAX_TITLE_PREFIX_CHARS);
        }
    }

    /// Whether `prefix` (a proper prefix of a title, ending right before a blocking character when `blocked`)
    /// yields the title's first max_len - 2 word pieces. The pipeline works word by word, and each step is local:
    /// the normalizer maps each character on its own (control characters dropped, spaces around CJK characters,
    /// NFD, nonspacing marks dropped, lowercase) except NFD's reordering of a run of combining marks and the final
    /// sigma rule (`Σ` is `ς` unless a cased letter follows past case-ignorable characters); the pre-tokenizer
    /// splits at whitespace and around punctuation; WordPiece reads one word. So the title's text after the cut can
    /// change only
    /// - the prefix's last word (the cut may split it, or marks after the cut may reorder into it), and
    /// - the word of a `Σ` whose following context the prefix does not settle: no ASCII letter or digit and no
    ///   blocking character after it in the prefix (both are neither cased-ignorable nor removed, so the sigma rule
    ///   stops at them).
    ///
    /// With a blocking character after the cut neither can happen (it ends the word, stops the sigma rule and every
    /// reordering, and is never dropped), so every word piece of the prefix counts; otherwise those of the words
    /// before the first word that can change. They are the title's first pieces: enough of them, and truncation
    /// keeps exactly those.
    fn prefix_suffices(&self, prefix: &str, blocked: bool) -> Result<bool, TokenizerError> {
        let needed = self.max_len - 2;
        let encoding = self.untruncated.encode(prefix, false)?;
        let (words, offsets) = (encoding.get_word_ids(), encoding.get_offsets());
        if blocked {
            return Ok(words.len() >= needed);
        }
        let settled = prefix
            .char_indices()
            .rev()
            .find(|(_, c)| c.is_ascii_alphanumeric() || is_blocking(*c))
            .map_or(0, |(at, c)| at + c.len_utf8());
        let open_sigma = prefix[settled..].find('Σ').map(|at| settled + at);
        // The first word that can change: the last one, or an earlier one holding an unsettled sigma.
        let mut first_open = words.last().copied().flatten();
        if let Some(sigma) = open_sigma {
            let sigma_word = words.iter().zip(offsets).find(|(_, (_, end))| *end > sigma).and_then(|(w, _)| *w);
            first_open = match (first_open, sigma_word) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        let safe = words.iter().take_while(|w| first_open.is_none_or(|open| w.is_some_and(|w| w < open))).count();
        Ok(safe >= needed)
    }

    /// Row-major `[B, L]` ids padded with [`Self::pad_id`], the matching 0/1 mask, and L (the longest title).
    pub fn encode_batch(&self, titles: &[&str]) -> Result<(Vec<i64>, Vec<i64>, usize), TokenizerError> {
        let rows = titles.iter().map(|t| self.encode(t)).collect::<Result<Vec<_>, _>>()?;
        Ok(self.pad_batch(&rows))
    }

    /// [`Self::encode_batch`] for titles already encoded by [`Self::encode`].
    pub fn pad_batch(&self, rows: &[Vec<i64>]) -> (Vec<i64>, Vec<i64>, usize) {
        let len = rows.iter().map(Vec::len).max().unwrap_or(0);
        let mut ids = Vec::with_capacity(rows.len() * len);
        let mut mask = Vec::with_capacity(rows.len() * len);
        for row in rows {
            ids.extend_from_slice(row);
            ids.resize(ids.len() + len - row.len(), self.pad_id);
            mask.extend(std::iter::repeat_n(1, row.len()).chain(std::iter::repeat_n(0, len - row.len())));
        }
        (ids, mask, len)
    }
}

/// BERT's basic cleaning in the slow (Python) tokenizer's exact semantics, in order: characters of Unicode
/// category C* (controls, format, private use, unassigned) except tab / newline / return removed, as are NUL and
/// U+FFFD; spaces around CJK characters; accents stripped (NFD, then nonspacing marks dropped); lowercase.
/// The category tests run as regexes rather than `BertNormalizer`'s own because its tables predate Unicode 10:
/// they miss newer marks, punctuation and every unassigned code point. Python's `str.lower` maps a
/// word-final capital sigma to `ς` (Unicode's Final_Sigma context) where a per-character lowercase gives `σ`,
/// so that rule runs as a regex before lowercasing. Stripping the marks first does not change its outcome:
/// they are case-ignorable, which the rule skips over.
fn normalizer() -> Result<NormalizerSequence, tokenizers::Error> {
    let regex = |pattern: &str, content: &str| Replace::new(ReplacePattern::Regex(pattern.to_owned()), content);
    Ok(NormalizerSequence::new(vec![
        regex(r"[[\x00\x{FFFD}\p{C}]&&[^\t\n\r]]", "")?.into(),
        BertNormalizer::new(false, true, Some(false), false).into(),
        NFD.into(),
        regex(r"\p{Mn}", "")?.into(),
        regex(r"(?<=\p{Cased}\p{Case_Ignorable}*)Σ(?!\p{Case_Ignorable}*\p{Cased})", "ς")?.into(),
        Lowercase.into(),
    ]))
}

/// Split on whitespace (dropped), then isolate each punctuation character: Unicode category P* or ASCII
/// non-alphanumeric, as BERT defines it. The slow tokenizer's CJK ranges also cover U+2B820..U+2B91F (the start
/// of CJK Extension E), which `BertNormalizer` leaves out; isolating those characters too has the same effect
/// as the spaces the normalizer puts around the other CJK characters.
fn pre_tokenizer() -> Result<PreTokenizerSequence, tokenizers::Error> {
    let punctuation = Split::new(
        SplitPattern::Regex(r"[\p{P}\x21-\x2F\x3A-\x40\x5B-\x60\x7B-\x7E\x{2B820}-\x{2B91F}]".to_owned()),
        SplitDelimiterBehavior::Isolated,
        false,
    )?;
    Ok(PreTokenizerSequence::new(vec![WhitespaceSplit.into(), punctuation.into()]))
}

/// The vocabulary of the embedding-only encoder: [PAD], [UNK], [CLS], [SEP], [MASK], then every basic token
/// (normalized and split exactly as [`TitleTokenizer`] does, so each one encodes to itself) seen at least
/// `min_count` times in `titles`, most frequent first, ties in token order.
pub fn build_vocab<'a>(titles: impl Iterator<Item = &'a str>, min_count: usize) -> Vec<String> {
    // Fixed patterns, compiled by every TitleTokenizer too: they cannot fail.
    let normalizer = normalizer().expect("BERT normalizer");
    let pre_tokenizer = pre_tokenizer().expect("BERT pre-tokenizer");
    let mut counts: HashMap<String, usize> = HashMap::new();
    for title in titles {
        let mut words = PreTokenizedString::from(title);
        // Both steps only fail on a broken pattern, which these fixed BERT steps do not have.
        words.normalize(|s| normalizer.normalize(s)).expect("BERT normalization");
        pre_tokenizer.pre_tokenize(&mut words).expect("BERT pre-tokenization");
        for (word, _, _) in words.get_splits(OffsetReferential::Original, OffsetType::Char) {
            if word.chars().count() <= MAX_CHARS_PER_WORD {
                *counts.entry(word.to_owned()).or_default() += 1;
            }
        }
    }
    let mut frequent: Vec<(String, usize)> = counts.into_iter().filter(|(_, n)| *n >= min_count.max(1)).collect();
    frequent.sort_by(|(a, na), (b, nb)| nb.cmp(na).then_with(|| a.cmp(b)));
    // Special tokens hold uppercase letters, which normalized words never do, so they cannot repeat below.
    [PAD, UNK, CLS, SEP, MASK].into_iter().map(str::to_owned).chain(frequent.into_iter().map(|(w, _)| w)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy() -> TitleTokenizer {
        let vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "un", "##aff", "##able", "a", "!", "中", "cafe"];
        TitleTokenizer::from_vocab(vocab.iter().map(|s| s.to_string()).collect(), 6).unwrap()
    }

    #[test]
    fn wordpiece_lowercase_accents_cjk_and_punctuation() {
        let t = toy();
        assert_eq!(t.encode("UNaffable").unwrap(), vec![2, 5, 6, 7, 3]);
        assert_eq!(t.encode("Café!").unwrap(), vec![2, 11, 9, 3]);
        assert_eq!(t.encode("a中a").unwrap(), vec![2, 8, 10, 8, 3]);
        assert_eq!(t.encode("zzz").unwrap(), vec![2, 1, 3]);
    }

    #[test]
    fn empty_truncated_and_control_titles() {
        let t = toy();
        assert_eq!(t.encode("").unwrap(), vec![2, 3]);
        assert_eq!(t.encode("\u{0}\u{7}\u{200b}  \t").unwrap(), vec![2, 3]);
        assert_eq!(t.encode("a a a a a a a").unwrap(), vec![2, 8, 8, 8, 8, 3]);
        assert_eq!(t.encode(&"a".repeat(101)).unwrap(), vec![2, 1, 3]);
    }

    #[test]
    fn batch_pads_with_pad_id_and_masks() {
        let (ids, mask, len) = toy().encode_batch(&["a", "", "a a"]).unwrap();
        assert_eq!(len, 4);
        assert_eq!(ids, vec![2, 8, 3, 0, 2, 3, 0, 0, 2, 8, 8, 3]);
        assert_eq!(mask, vec![1, 1, 1, 0, 1, 1, 0, 0, 1, 1, 1, 1]);
        assert_eq!(toy().encode_batch(&[]).unwrap(), (vec![], vec![], 0));
    }

    #[test]
    fn json_round_trip_keeps_everything() {
        let t = toy();
        let back = TitleTokenizer::from_json(&t.to_json()).unwrap();
        assert_eq!((back.max_len(), back.vocab_size(), back.pad_id()), (6, 12, 0));
        for title in ["UNaffable!", "a中 cafe", "a a a a a a a"] {
            assert_eq!(back.encode(title).unwrap(), t.encode(title).unwrap());
        }
        assert!(TitleTokenizer::from_json("{").is_err());
    }

    #[test]
    fn bad_vocabularies_are_errors() {
        let v = |s: &[&str]| s.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(matches!(
            TitleTokenizer::from_vocab(v(&["[PAD]", "[UNK]", "[CLS]"]), 50),
            Err(TokenizerError::MissingSpecial("[SEP]"))
        ));
        assert!(matches!(
            TitleTokenizer::from_vocab(v(&["[PAD]", "[UNK]", "[CLS]", "[SEP]", "a", "a"]), 50),
            Err(TokenizerError::DuplicateToken(t)) if t == "a"
        ));
        assert!(matches!(
            TitleTokenizer::from_vocab(v(&["[PAD]", "[UNK]", "[CLS]", "[SEP]"]), 2),
            Err(TokenizerError::MaxLenTooSmall(2))
        ));
        assert!(TitleTokenizer::from_vocab_file("/nonexistent/vocab.txt", 50).is_err());
    }

    #[test]
    fn vocab_from_titles_is_deterministic_and_self_encoding() {
        let titles = ["Hello, 世界!", "hello 世", "Héllo b"];
        let vocab = build_vocab(titles.iter().copied(), 1);
        assert_eq!(vocab, ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "世", "!", ",", "b", "界"]);
        assert_eq!(build_vocab(titles.iter().copied(), 2)[5..], ["hello", "世"]);
        let t = TitleTokenizer::from_vocab(vocab, 50).unwrap();
        assert_eq!(t.encode("HELLO 世界 b c").unwrap(), vec![2, 5, 6, 10, 9, 1, 3]);
    }
}
