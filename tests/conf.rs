//! The original conf.txt, read unchanged: literals, INI rules, the mapping onto Config, errors that point.

use std::path::Path;

use mvt_formats::conf_txt::{parse_literal, ConfError, ConfFile, Literal};
use mvt_formats::config::{Config, InferConfig, LossType, ModelConfig, PoolMode, TextEncoder, TrainConfig};

fn shipped() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("conf/conf.txt")).unwrap()
}

fn config(text: &str) -> Result<Config, ConfError> {
    Config::from_conf(&ConfFile::parse(text)?)
}

#[test]
fn shipped_conf_gives_the_original_defaults() {
    let config = Config::from_conf_file(&Path::new(env!("CARGO_MANIFEST_DIR")).join("conf/conf.txt")).unwrap();
    let expected = Config {
        model: ModelConfig {
            num_classes: 110,
            rgb_dim: 2048,
            audio_dim: 128,
            lstm_size_img: 512,
            lstm_size_audio: 128,
            drop_rate: 0.5,
            text_max_len: 50,
            pool_mode: PoolMode::TextGuide,
            use_rgb: true,
            use_audio: true,
            use_text: true,
            text_encoder: TextEncoder::Embedding { vocab_size: 0, dim: 768 },
            ernie_freeze: true,
            textcnn_windows: vec![2, 3, 4],
            textcnn_filters: 256,
            loss_type: LossType::Sigmoid,
        },
        train: TrainConfig {
            epochs: 30,
            learning_rate: 0.0007,
            decay_gamma: 0.2,
            decay_epochs: vec![5, 10, 15, 20],
            l2_weight_decay: 8e-4,
            batch_size: 64,
            valid_batch_size: 16,
            early_stop: 15,
            title_drop_rate: 0.0,
        },
        infer: InferConfig { threshold: 0.5, batch_size: 64 },
    };
    assert_eq!(config, expected);
    // every original key survives as the literal Python's eval gives
    let conf = ConfFile::parse(&shipped()).unwrap();
    assert_eq!(
        conf.sections.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        ["MODEL", "TRAIN", "VALID", "TEST", "INFER"]
    );
    assert_eq!(conf.get("MODEL", "bone_nework").unwrap().value, Literal::None);
    assert_eq!(
        conf.get("MODEL", "feature_names").unwrap().value,
        Literal::List(vec![Literal::Str("rgb".into()), Literal::Str("audio".into()), Literal::Str("text".into())])
    );
    assert_eq!(conf.get("TRAIN", "use_gpu").unwrap().value, Literal::Bool(true));
    assert_eq!(conf.get("train", "ernie_pretrain_dict_path").unwrap().line, 34);
}

#[test]
fn python_literals() {
    use Literal::*;
    let cases = [
        ("8e-4", Float(8e-4)),
        ("1E+3", Float(1000.0)),
        ("-0.5", Float(-0.5)),
        (".5", Float(0.5)),
        ("7", Int(7)),
        ("-12", Int(-12)),
        ("1_000", Int(1000)),
        ("'single'", Str("single".into())),
        ("\"double\"", Str("double".into())),
        ("'it\\'s'", Str("it's".into())),
        ("True", Bool(true)),
        ("False", Bool(false)),
        ("None", None),
        (
            "[[2048], [128], [5, 50, 1]]",
            List(vec![List(vec![Int(2048)]), List(vec![Int(128)]), List(vec![Int(5), Int(50), Int(1)])]),
        ),
        ("[1, 2,]", List(vec![Int(1), Int(2)])),
        ("[]", List(vec![])),
        ("(1, 'a')", Tuple(vec![Int(1), Str("a".into())])),
        ("(1,)", Tuple(vec![Int(1)])),
        ("()", Tuple(vec![])),
        ("(3)", Int(3)),
        ("1, 2", Tuple(vec![Int(1), Int(2)])),
        ("0.5   # the rate", Float(0.5)),
        ("  42  ", Int(42)),
        // not literals: kept as text, as the original's failed eval kept them
        ("text_guide", Str("text_guide".into())),
        ("./datasets/class.txt", Str("./datasets/class.txt".into())),
        ("010", Str("010".into())),
        ("[1, 2", Str("[1, 2".into())),
        ("'unterminated", Str("'unterminated".into())),
        ("1 2", Str("1 2".into())),
        ("- 'a'", Str("- 'a'".into())),
    ];
    for (text, expected) in cases {
        assert_eq!(parse_literal(text), expected, "{text:?}");
    }
    // nesting is bounded (kept as text beyond the limit)
    let deep = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
    assert!(matches!(parse_literal(&deep), Str(_)));
}

#[test]
fn ini_rules() {
    let text =
        "# comment\n; another\n[model]\nKey_A = 1\nkey_b: 'x'   \n  \nlist = [1,\n    2]\n[DEFAULT]\nshared = 5\n";
    let conf = ConfFile::parse(text).unwrap();
    assert_eq!(conf.get("MODEL", "key_a").unwrap().value, Literal::Int(1));
    assert_eq!(conf.get("MODEL", "key_a").unwrap().line, 4);
    assert_eq!(conf.get("MODEL", "key_b").unwrap().value, Literal::Str("x".into()));
    assert_eq!(conf.get("MODEL", "list").unwrap().value, Literal::List(vec![Literal::Int(1), Literal::Int(2)]));
    assert_eq!(conf.get("MODEL", "shared").unwrap().value, Literal::Int(5));
    assert!(conf.get("TRAIN", "key_a").is_none());
    for (bad, line, words) in [
        ("key = 1\n", 1, "before any [SECTION]"),
        ("[A]\nk = 1\nk = 2\n", 3, "appears twice"),
        ("[A]\n[a]\n", 2, "appears twice"),
        ("[A]\njust words\n", 2, "expected `key = value`"),
        ("[A\n", 1, "bad section header"),
    ] {
        let err = ConfFile::parse(bad).unwrap_err();
        assert!(matches!(err, ConfError::Syntax { line: l, .. } if l == line), "{bad:?}: {err}");
        assert!(err.to_string().contains(words), "{bad:?}: {err}");
    }
}

#[test]
fn added_keys_and_alternatives() {
    let text = shipped()
        .replace("lstm_pool_mode = 'text_guide'", "lstm_pool_mode = 'attention'\nuse_text = False\nuse_rgb = False\ntextcnn_windows = [3, 5]\ntextcnn_filters = 64\ntext_embedding_dim = 32")
        .replace("loss_type = \"sigmoid\"", "loss_type = \"softmax\"\ntitle_drop_rate = 0.4")
        .replace("feature_names = ['rgb', 'audio', 'text']", "feature_names = ['audio', 'rgb', 'text']");
    let config = config(&text).unwrap();
    let model = &config.model;
    assert_eq!(model.pool_mode, PoolMode::SelfAttention);
    assert!(!model.use_text && !model.use_rgb && model.use_audio);
    assert_eq!(model.textcnn_windows, [3, 5]);
    assert_eq!(model.textcnn_filters, 64);
    assert_eq!(model.text_encoder, TextEncoder::Embedding { vocab_size: 0, dim: 32 });
    assert_eq!(model.loss_type, LossType::Softmax);
    // feature_dims follow feature_names
    assert_eq!((model.rgb_dim, model.audio_dim), (128, 2048));
    assert_eq!(config.train.title_drop_rate, 0.4);
}

#[test]
fn errors_name_section_key_and_line() {
    let cases = [
        (
            shipped().replace("epoch = 30", "epoch = thirty"),
            "conf [TRAIN] epoch (line 23): expected a non-negative integer, found the text \"thirty\"",
        ),
        (
            shipped().replace("num_classes = 110", "num_classes = 0"),
            "[MODEL] num_classes (line 15): expected a positive integer",
        ),
        (
            shipped().replace("drop_rate = 0.5", "drop_rate = 1.5"),
            "[MODEL] drop_rate (line 5): expected a number in [0, 1)",
        ),
        (
            shipped().replace("loss_type = \"sigmoid\"", "loss_type = \"hinge\""),
            "[TRAIN] loss_type (line 32): expected \"sigmoid\" or \"softmax\"",
        ),
        (shipped().replace("[[2048], [128]", "[[], [128]"), "[MODEL] feature_dims (line 9): entry 0 (rgb)"),
        (
            shipped().replace("'rgb', 'audio'", "'image', 'audio'"),
            "[MODEL] feature_names (line 7): no feature named \"rgb\"",
        ),
        (
            shipped().replace("ernie_freeze = True", "ernie_freeze = 1"),
            "[MODEL] ernie_freeze (line 19): expected True or False",
        ),
        (
            shipped().replace("decay_epochs = [5, 10, 15, 20]", "decay_epochs = [5, 'x']"),
            "[TRAIN] decay_epochs (line 27): expected a list",
        ),
        (shipped().replace("num_classes = 110\n", ""), "conf [MODEL] num_classes is missing"),
        (shipped().replace("[VALID]\nbatch_size = 16", "[VALID]"), "conf [VALID] batch_size is missing"),
        (
            shipped().replace(
                "lstm_pool_mode = 'text_guide'",
                "lstm_pool_mode = 'text_guide'\nuse_rgb = False\nuse_audio = False\nuse_text = False",
            ),
            "nothing to classify",
        ),
    ];
    for (text, expected) in cases {
        let err = config(&text).unwrap_err().to_string();
        assert!(err.contains(expected), "{expected:?} not in {err:?}");
    }
    let err = Config::from_conf_file(Path::new("/nonexistent/conf.txt")).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/conf.txt"), "{err}");
}
