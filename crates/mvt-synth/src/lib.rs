//! `mvt-train synth`: a synthetic benchmark in the original's dataset layout, with a known Hit@1 ceiling.
//!
//! The generative process, why each part is there, and how the ceiling is computed: docs/benchmark.md.
//! In short: every video has a class, an aspect (a sub-topic shared by all classes) and, in each of image and
//! audio, a confusable distractor class shown with another aspect. Image confusables share the category, audio
//! confusables share a "column" across categories, the title may name the class (or a confusable one) and the
//! aspect. A frame's features are its pattern's prototype (class + aspect direction) plus Gaussian noise, so an
//! oracle that sees every frame's pattern bounds what any model can reach; [`bayes_label_marginals`] is that
//! oracle's exact posterior.

use anyhow::{bail, ensure, Context, Result};
use clap::{Args, ValueEnum};
use mvt_formats::feature_file::{write_feature_file, FeatureFile};
use ndarray::Array2;
use rand::distr::weighted::WeightedIndex;
use rand::rngs::StdRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, StandardNormal};
use serde::Serialize;
use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Args, Debug)]
pub struct SynthArgs {
    /// Output directory (created; an existing one must be empty).
    #[arg(long)]
    pub out: PathBuf,
    /// Size preset: tiny (tests, seconds), small (the demo, minutes on CPU), seed (the original's size).
    #[arg(long, value_enum, default_value_t = Preset::Small)]
    pub preset: Preset,
    /// Training videos (default: the preset's).
    #[arg(long)]
    pub videos: Option<usize>,
    /// Validation videos (default: the preset's).
    #[arg(long)]
    pub val_videos: Option<usize>,
    /// Number of classes, 2 to 110 (default: the preset's).
    #[arg(long)]
    pub classes: Option<usize>,
    /// Random seed: the same seed and options give byte-identical files.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Image feature width (default: the preset's).
    #[arg(long)]
    pub rgb_dim: Option<usize>,
    /// Audio feature width (default: the preset's).
    #[arg(long)]
    pub audio_dim: Option<usize>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Preset {
    Tiny,
    Small,
    Seed,
}

/// What a run writes: counts, widths and the frame-count range.
#[derive(Clone, Debug, Serialize)]
struct Size {
    classes: usize,
    train_videos: usize,
    val_videos: usize,
    rgb_dim: usize,
    audio_dim: usize,
    min_frames: usize,
    max_frames: usize,
}

impl Preset {
    fn size(self) -> Size {
        let (classes, train_videos, val_videos, rgb_dim, audio_dim, min_frames, max_frames) = match self {
            // Narrow features keep the test fixture small and fast; the structure is the same at any width.
            Preset::Tiny => (8, 300, 100, 64, 16, 3, 40),
            Preset::Small => (40, 2000, 400, 2048, 128, 5, 60),
            Preset::Seed => (110, 70_000, 464, 2048, 128, 5, 250),
        };
        Size { classes, train_videos, val_videos, rgb_dim, audio_dim, min_frames, max_frames }
    }
}

/// The generative process's probabilities and scales (the same for every preset; see docs/benchmark.md).
#[derive(Debug, Serialize)]
struct Process {
    /// Aspects: sub-topics shared by all classes.
    aspects: usize,
    /// A video's fraction of signal frames and (independently, same range) of distractor frames.
    rgb_fraction: [f64; 2],
    audio_fraction: [f64; 2],
    /// Audio with no segments at all, and audio of background segments only.
    audio_empty: f64,
    audio_background_only: f64,
    /// Probability that the image distractor class is a second true label.
    second_label: f64,
    title_empty: f64,
    /// Of non-empty titles: names the class / names an image-confusable class / names the aspect.
    title_names_class: f64,
    title_names_confusable: f64,
    title_names_aspect: f64,
    /// Class frequencies run linearly from this ratio (most frequent / least frequent) to 1.
    class_frequency_ratio: f64,
    /// A pattern frame is `amplitude * (class prototype + aspect prototype) + noise_std * N(0, I)`, with
    /// orthonormal prototypes; a background frame is the noise alone.
    amplitude: f32,
    noise_std: f32,
}

const PROCESS: Process = Process {
    aspects: ASPECTS.len(),
    rgb_fraction: [0.15, 0.45],
    audio_fraction: [0.1, 0.4],
    audio_empty: 0.15,
    audio_background_only: 0.4,
    second_label: 0.15,
    title_empty: 0.08,
    title_names_class: 0.4,
    title_names_confusable: 0.15,
    title_names_aspect: 0.7,
    class_frequency_ratio: 3.0,
    amplitude: 9.0,
    noise_std: 1.0,
};

/// Aspects and the title words that name them.
const ASPECTS: [(&str, [&str; 4]); 4] = [
    ("教程", ["教程", "教学", "攻略", "手把手"]),
    ("搞笑", ["搞笑", "爆笑", "沙雕", "名场面"]),
    ("日常", ["日常", "vlog", "记录", "碎片"]),
    ("挑战", ["比赛", "挑战", "对决", "PK"]),
];

/// Words that say nothing about class or aspect.
const FILLERS: [&str; 36] = [
    "今天",
    "分享一下",
    "来看看",
    "太好玩了",
    "真的绝了",
    "谁懂啊",
    "第一次",
    "终于等到",
    "记得点赞",
    "关注我",
    "每天更新",
    "哈哈哈",
    "这也太",
    "合集",
    "高能",
    "最后",
    "没想到",
    "2024",
    "第3期",
    "part2",
    "OMG",
    "666",
    "yyds",
    "hhh",
    "超级",
    "上热门",
    "精彩瞬间",
    "建议收藏",
    "必看",
    "震惊",
    "看完",
    "绝绝子",
    "一起",
    "满满的",
    "推荐",
    "100%",
];

/// Between title words: mostly nothing, as in Chinese titles, sometimes a space or punctuation.
const SEPARATORS: [&str; 8] = ["", "", "", " ", "，", "！", " | ", " #"];

/// A first-level name with its second-level names, each with the title words that name that class.
type Category = (&'static str, [(&'static str, [&'static str; 3]); CLASSES_PER_CATEGORY]);

/// The rows of the class grid: classes in a category are visually confusable.
#[rustfmt::skip]
const CATEGORIES: [Category; 22] = [
    ("游戏", [("射击", ["射击", "吃鸡", "枪战"]), ("沙盒", ["沙盒", "我的世界", "建造"]), ("王者荣耀", ["王者荣耀", "农药", "上分"]), ("手游", ["手游", "抽卡", "氪金"]), ("单机", ["单机", "主机游戏", "通关"])]),
    ("拍人", [("萌娃", ["萌娃", "宝宝", "小朋友"]), ("帅哥", ["帅哥", "小哥哥", "男神"]), ("美女", ["美女", "小姐姐", "女神"]), ("秀特效", ["特效", "变装", "转场"]), ("老人", ["爷爷", "奶奶", "老人家"])]),
    ("美食", [("美食展示", ["美食", "好吃", "馋哭"]), ("吃播", ["吃播", "大胃王", "开吃"]), ("烹饪", ["做饭", "下厨", "菜谱"]), ("烘焙", ["烘焙", "蛋糕", "面包"]), ("街头小吃", ["小吃", "夜市", "路边摊"])]),
    ("宠物", [("猫", ["猫咪", "喵星人", "橘猫"]), ("狗", ["狗狗", "汪星人", "柴犬"]), ("异宠", ["仓鼠", "蜥蜴", "鹦鹉"]), ("水族", ["金鱼", "鱼缸", "水草"]), ("宠物医疗", ["兽医", "驱虫", "绝育"])]),
    ("音乐", [("翻唱", ["翻唱", "唱歌", "cover"]), ("乐器", ["吉他", "钢琴", "弹奏"]), ("说唱", ["说唱", "rap", "freestyle"]), ("古风", ["古风", "国风", "戏腔"]), ("现场", ["演唱会", "现场版", "livehouse"])]),
    ("舞蹈", [("街舞", ["街舞", "breaking", "齐舞"]), ("宅舞", ["宅舞", "翻跳", "甩头舞"]), ("广场舞", ["广场舞", "大妈舞", "领舞"]), ("民族舞", ["民族舞", "藏族舞", "傣族舞"]), ("芭蕾", ["芭蕾", "足尖", "天鹅湖"])]),
    ("运动", [("篮球", ["篮球", "扣篮", "NBA"]), ("足球", ["足球", "射门", "世界杯"]), ("健身", ["健身", "撸铁", "增肌"]), ("跑步", ["跑步", "马拉松", "配速"]), ("游泳", ["游泳", "蛙泳", "泳池"])]),
    ("汽车", [("试驾", ["试驾", "新车", "提车"]), ("改装", ["改装", "轮毂", "排气"]), ("驾考", ["驾校", "科目二", "倒车入库"]), ("赛车", ["赛车", "漂移", "F1"]), ("事故", ["车祸", "追尾", "剐蹭"])]),
    ("旅游", [("风景", ["风景", "美景", "日落"]), ("城市", ["城市", "街景", "夜景"]), ("户外", ["露营", "徒步", "登山"]), ("海岛", ["海边", "沙滩", "潜水"]), ("古镇", ["古镇", "古城", "老街"])]),
    ("影视", [("电影解说", ["解说", "电影", "剧情"]), ("电视剧", ["电视剧", "追剧", "剧集"]), ("综艺", ["综艺", "真人秀", "嘉宾"]), ("动漫", ["动漫", "番剧", "二次元"]), ("纪录片", ["纪录片", "大自然", "探秘"])]),
    ("明星周边", [("明星", ["明星", "爱豆", "追星"]), ("粉丝应援", ["应援", "打call", "粉丝"]), ("红毯", ["红毯", "造型", "时装周"]), ("访谈", ["采访", "访谈", "专访"]), ("其他明星周边", ["路透", "饭拍", "机场图"])]),
    ("时尚", [("穿搭", ["穿搭", "ootd", "搭配"]), ("美妆", ["化妆", "口红", "眼影"]), ("护肤", ["护肤", "面膜", "精华"]), ("发型", ["发型", "剪发", "烫发"]), ("美甲", ["美甲", "指甲", "甲油"])]),
    ("知识", [("科普", ["科普", "原理", "冷知识"]), ("历史", ["历史", "朝代", "古代"]), ("数学", ["数学", "解题", "公式"]), ("英语", ["英语", "单词", "口语"]), ("读书", ["读书", "书单", "好书"])]),
    ("科技", [("手机", ["手机", "拆机", "屏幕"]), ("电脑", ["电脑", "装机", "显卡"]), ("数码配件", ["耳机", "充电器", "键盘"]), ("评测", ["开箱", "上手", "测评"]), ("黑科技", ["黑科技", "发明", "机器人"])]),
    ("生活", [("家居", ["家居", "收纳", "装修"]), ("手工", ["手工", "折纸", "DIY"]), ("清洁", ["清洁", "打扫", "去污"]), ("园艺", ["种花", "多肉", "绿植"]), ("省钱", ["省钱", "薅羊毛", "优惠"])]),
    ("亲子", [("育儿", ["育儿", "带娃", "辅食"]), ("早教", ["早教", "绘本", "启蒙"]), ("孕期", ["怀孕", "孕妇", "产检"]), ("亲子游戏", ["亲子", "陪玩", "捉迷藏"]), ("学习辅导", ["辅导作业", "写作业", "家长会"])]),
    ("三农", [("农村生活", ["农村", "乡下", "老家"]), ("种植", ["种地", "庄稼", "水稻"]), ("养殖", ["养猪", "养鸡", "鱼塘"]), ("农产品", ["农产品", "土特产", "水果"]), ("赶集", ["赶集", "集市", "大集"])]),
    ("情感", [("爱情", ["爱情", "恋爱", "情侣"]), ("亲情", ["亲情", "父母", "妈妈"]), ("友情", ["友情", "闺蜜", "兄弟"]), ("励志", ["励志", "坚持", "梦想"]), ("语录", ["语录", "文案", "扎心"])]),
    ("搞笑", [("段子", ["段子", "笑话", "玩梗"]), ("恶搞", ["恶搞", "整蛊", "恶作剧"]), ("配音", ["配音", "方言", "模仿"]), ("街头", ["街访", "路人", "扫街"]), ("短剧", ["短剧", "小剧场", "反转"])]),
    ("军事", [("武器", ["武器", "坦克", "导弹"]), ("军演", ["军演", "演习", "阅兵"]), ("军营", ["军营", "新兵", "军训"]), ("海军", ["海军", "航母", "舰艇"]), ("空军", ["空军", "战斗机", "飞行员"])]),
    ("财经", [("股票", ["股票", "炒股", "基金"]), ("理财", ["理财", "存钱", "复利"]), ("房产", ["房价", "买房", "楼盘"]), ("创业", ["创业", "老板", "开店"]), ("职场", ["职场", "面试", "上班"])]),
    ("健康", [("养生", ["养生", "中医", "泡脚"]), ("减肥", ["减肥", "减脂", "瘦身"]), ("医疗", ["医生", "医院", "看病"]), ("心理", ["心理", "焦虑", "情绪"]), ("睡眠", ["睡眠", "失眠", "助眠"])]),
];

const CLASSES_PER_CATEGORY: usize = 5;
const MAX_CLASSES: usize = CATEGORIES.len() * CLASSES_PER_CATEGORY;
/// Draws for the expected ceiling; its standard error is reported next to it.
const CEILING_DRAWS: usize = 20_000;

/// A frame's content: one class shown under one aspect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Pattern {
    class: usize,
    aspect: usize,
}

/// Orthonormal directions: one per class, then one per aspect.
struct Prototypes {
    dim: usize,
    class: Vec<Vec<f32>>,
    aspect: Vec<Vec<f32>>,
}

/// The class-level structure fixed by the seed.
struct World {
    names: Vec<String>,
    title_words: Vec<&'static [&'static str]>,
    prior: Vec<f64>,
    sample_class: WeightedIndex<f64>,
    /// Other classes of the same category.
    rgb_confusable: Vec<Vec<usize>>,
    /// Other classes of the same column of the class grid.
    audio_confusable: Vec<Vec<usize>>,
    rgb: Prototypes,
    audio: Prototypes,
}

/// Which cues the title carries (an empty title carries none).
struct TitleCues {
    empty: bool,
    class: Option<usize>,
    aspect: Option<usize>,
}

/// Everything about one video that its files are rendered from.
struct Latent {
    /// Class, then the image distractor class when that is a second label.
    labels: Vec<usize>,
    /// Per frame: its pattern, or `None` for background.
    rgb: Vec<Option<Pattern>>,
    /// Per audio segment; empty for empty audio.
    audio: Vec<Option<Pattern>>,
    title: TitleCues,
}

/// The distinct patterns a sequence shows: all an oracle needs from it (see docs/benchmark.md).
#[derive(Clone, Copy, Debug)]
enum Seen {
    Nothing,
    One(Pattern),
    Two(Pattern, Pattern),
}

impl Seen {
    fn of(frames: &[Option<Pattern>]) -> Seen {
        let mut seen = Seen::Nothing;
        for &p in frames.iter().flatten() {
            seen = match seen {
                Seen::Nothing => Seen::One(p),
                Seen::One(q) if q != p => Seen::Two(q, p),
                other => other,
            };
        }
        seen
    }

    /// Whether hypotheses with class `c` can show these patterns at all (a shortcut: the others have likelihood 0).
    fn may_involve(self, c: usize, confusable: &[usize]) -> bool {
        match self {
            Seen::Nothing => true,
            Seen::One(p) => p.class == c || confusable.contains(&p.class),
            Seen::Two(p, q) => p.class == c || q.class == c,
        }
    }

    /// P(these patterns are shown | hypothesis), up to a factor common to all hypotheses: the signal and
    /// distractor frame counts are exchangeable, so only which pattern plays which role matters.
    fn likelihood(self, signal: impl Fn(Pattern) -> f64, distractor: impl Fn(Pattern) -> f64) -> f64 {
        match self {
            Seen::Nothing => 1.0,
            Seen::One(p) => signal(p) + distractor(p),
            Seen::Two(p, q) => signal(p) * distractor(q) + signal(q) * distractor(p),
        }
    }
}

/// What the oracle observes of a video.
struct Observation {
    rgb: Seen,
    audio: Seen,
    title_class: Option<usize>,
    title_aspect: Option<usize>,
}

impl Latent {
    fn observation(&self) -> Observation {
        Observation {
            rgb: Seen::of(&self.rgb),
            audio: Seen::of(&self.audio),
            title_class: self.title.class,
            title_aspect: self.title.aspect,
        }
    }
}

/// The inputs an oracle may use, for the ceiling of each modality subset.
#[derive(Clone, Copy)]
struct Inputs {
    rgb: bool,
    audio: bool,
    title_class: bool,
    title_aspect: bool,
}

const CEILING_INPUTS: [(&str, Inputs); 8] = {
    const fn inputs(rgb: bool, audio: bool, title: bool) -> Inputs {
        Inputs { rgb, audio, title_class: title, title_aspect: title }
    }
    [
        ("rgb", inputs(true, false, false)),
        ("audio", inputs(false, true, false)),
        ("title", inputs(false, false, true)),
        ("rgb+audio", inputs(true, true, false)),
        ("rgb+title", inputs(true, false, true)),
        ("audio+title", inputs(false, true, true)),
        ("rgb+audio+title", inputs(true, true, true)),
        // What a model reaches if it cannot use the title's aspect to pick frames (docs/benchmark.md).
        (
            "rgb+audio+title, aspect word unused",
            Inputs { rgb: true, audio: true, title_class: true, title_aspect: false },
        ),
    ]
};

pub fn run(args: &SynthArgs) -> Result<()> {
    let started = Instant::now();
    let size = resolve_size(args)?;
    prepare_out_dir(&args.out)?;
    let mut master = StdRng::seed_from_u64(args.seed);
    let world = World::new(&size, &mut master);
    let ceiling_seed: u64 = master.random();

    let class_txt: String = world.names.iter().map(|n| format!("{n}\n")).collect();
    fs::write(args.out.join("class.txt"), class_txt).context("writing class.txt")?;
    let features_dir = args.out.join(mvt_formats::dataset::FEATURE_DIR);
    fs::create_dir(&features_dir).with_context(|| format!("creating {}", features_dir.display()))?;

    let mut stats =
        Stats { bytes: 0, empty_titles: 0, empty_audio: 0, two_labels: 0, min_frames: usize::MAX, max_frames: 0 };
    write_split(&args.out, "train.txt", size.train_videos, &world, &size, &mut master, &mut stats)?;
    let val = write_split(&args.out, "val.txt", size.val_videos, &world, &size, &mut master, &mut stats)?;
    let generated_s = started.elapsed().as_secs_f64();

    let ceiling = Ceiling::compute(&world, &size, ceiling_seed, &val);
    let benchmark = Benchmark {
        generator: "mvt-train synth",
        preset: args.preset,
        seed: args.seed,
        size: &size,
        process: &PROCESS,
        aspect_names: ASPECTS.iter().map(|(name, _)| *name).collect(),
        frame_misread_bound: frame_misread_bound(size.classes),
        ceiling_hit1: &ceiling,
    };
    let json = serde_json::to_string_pretty(&benchmark)? + "\n";
    fs::write(args.out.join("benchmark.json"), json).context("writing benchmark.json")?;

    // Written at once and with `?`: a closed stdout (`| head`) is an error, not a panic.
    let mut summary = format!(
        "wrote {} train + {} val videos, {} classes, dims {}/{} to {} ({:.1} MB) in {:.1} s\n",
        size.train_videos,
        size.val_videos,
        size.classes,
        size.rgb_dim,
        size.audio_dim,
        args.out.display(),
        stats.bytes as f64 / 1e6,
        generated_s
    );
    writeln!(
        summary,
        "  {} empty titles, {} empty audio, {} with two labels, frames per video {}..{}",
        stats.empty_titles, stats.empty_audio, stats.two_labels, stats.min_frames, stats.max_frames
    )?;
    writeln!(summary, "Hit@1 ceiling (Bayes-optimal, %): expected over the process ± std. error | this val split")?;
    for row in &ceiling.rows {
        writeln!(
            summary,
            "  {:<38} {:6.2} ± {:.2} | {:6.2}",
            row.inputs, row.expected, row.expected_std_error, row.val_split
        )?;
    }
    std::io::stdout().write_all(summary.as_bytes()).context("writing the summary to stdout")?;
    Ok(())
}

fn resolve_size(args: &SynthArgs) -> Result<Size> {
    let mut size = args.preset.size();
    size.classes = args.classes.unwrap_or(size.classes);
    size.train_videos = args.videos.unwrap_or(size.train_videos);
    size.val_videos = args.val_videos.unwrap_or(size.val_videos);
    size.rgb_dim = args.rgb_dim.unwrap_or(size.rgb_dim);
    size.audio_dim = args.audio_dim.unwrap_or(size.audio_dim);
    ensure!(
        (2..=MAX_CLASSES).contains(&size.classes),
        "--classes must be between 2 and {MAX_CLASSES}, got {}",
        size.classes
    );
    ensure!(size.train_videos >= 1, "--videos must be at least 1");
    ensure!(size.val_videos >= 1, "--val-videos must be at least 1");
    // One orthonormal direction per class and per aspect.
    let min_dim = size.classes + PROCESS.aspects;
    for (flag, dim) in [("--rgb-dim", size.rgb_dim), ("--audio-dim", size.audio_dim)] {
        ensure!(
            dim >= min_dim,
            "{flag} {dim} is too small for {} classes: it must be at least classes + {} aspects = {min_dim}",
            size.classes,
            PROCESS.aspects
        );
    }
    Ok(size)
}

fn prepare_out_dir(out: &Path) -> Result<()> {
    if out.exists() {
        let mut entries = fs::read_dir(out).with_context(|| format!("reading {}", out.display()))?;
        if entries.next().is_some() {
            bail!("{} exists and is not empty; remove it or choose another --out", out.display());
        }
    }
    fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))
}

struct Stats {
    bytes: u64,
    empty_titles: usize,
    empty_audio: usize,
    two_labels: usize,
    min_frames: usize,
    max_frames: usize,
}

/// Writes `count` videos' feature files and the split file; returns what the oracle sees of each video with
/// its labels, for the split's own ceiling.
fn write_split(
    out: &Path,
    split_file: &str,
    count: usize,
    world: &World,
    size: &Size,
    master: &mut StdRng,
    stats: &mut Stats,
) -> Result<Vec<(Observation, Vec<usize>)>> {
    let mut lines = String::new();
    let mut seen = Vec::with_capacity(count);
    for _ in 0..count {
        // One generator per video, seeded from the master stream: videos do not depend on each other's draws.
        let mut rng = StdRng::seed_from_u64(master.random());
        let name = format!("{:032x}", rng.random::<u128>());
        let latent = world.sample_latent(size, &mut rng);
        let title = world.render_title(&latent.title, &mut rng);
        let file = FeatureFile {
            video: format!("{name}.mp4"),
            rgb: render(&latent.rgb, &world.rgb, &mut rng),
            audio: render(&latent.audio, &world.audio, &mut rng),
            labels: latent.labels.iter().map(|&l| l as i64).collect(),
        };
        let bytes = write_feature_file(&file);
        let path = out.join(mvt_formats::dataset::FEATURE_DIR).join(format!("{name}.pkl"));
        fs::write(&path, &bytes).with_context(|| format!("writing {}", path.display()))?;

        let label_names: Vec<&str> = latent.labels.iter().map(|&l| world.names[l].as_str()).collect();
        writeln!(lines, "{name}.mp4\t{title}\t{}", label_names.join(","))?;
        stats.bytes += bytes.len() as u64;
        stats.empty_titles += usize::from(title.is_empty());
        stats.empty_audio += usize::from(latent.audio.is_empty());
        stats.two_labels += usize::from(latent.labels.len() > 1);
        stats.min_frames = stats.min_frames.min(latent.rgb.len());
        stats.max_frames = stats.max_frames.max(latent.rgb.len());
        seen.push((latent.observation(), latent.labels));
    }
    fs::write(out.join(split_file), lines).with_context(|| format!("writing {split_file}"))?;
    Ok(seen)
}

impl World {
    /// Lays the classes out as a grid: rows are categories (image-confusable), columns are shuffled positions
    /// within each row (audio-confusable), so an image pair and an audio pair share at most one class.
    fn new(size: &Size, rng: &mut StdRng) -> World {
        let rows = size.classes.div_ceil(CLASSES_PER_CATEGORY);
        let mut names = Vec::with_capacity(size.classes);
        let mut title_words = Vec::with_capacity(size.classes);
        let mut category_of = Vec::with_capacity(size.classes);
        let mut columns: Vec<Vec<usize>> = vec![Vec::new(); CLASSES_PER_CATEGORY];
        for (row, (category, subclasses)) in CATEGORIES.iter().enumerate().take(rows) {
            let in_row = size.classes / rows + usize::from(row < size.classes % rows);
            let mut positions: Vec<usize> = (0..in_row).collect();
            positions.shuffle(rng);
            for ((subclass, words), position) in subclasses.iter().zip(positions) {
                columns[position].push(names.len());
                category_of.push(row);
                names.push(format!("{category}-{subclass}"));
                title_words.push(&words[..]);
            }
        }
        // Rows differ in length by at most one, so only a last column can hold a single class (or every column,
        // with one row): it joins the column before it, since a class needs someone to be confused with.
        let mut audio_groups: Vec<Vec<usize>> = Vec::new();
        for column in columns.into_iter().filter(|c| !c.is_empty()) {
            match audio_groups.last_mut() {
                Some(last) if column.len() == 1 => last.extend(column),
                _ => audio_groups.push(column),
            }
        }
        let mut audio_group_of = vec![0; size.classes];
        for (g, group) in audio_groups.iter().enumerate() {
            for &c in group {
                audio_group_of[c] = g;
            }
        }
        let others = |group_of: &[usize], c: usize| -> Vec<usize> {
            (0..size.classes).filter(|&o| o != c && group_of[o] == group_of[c]).collect()
        };
        let rgb_confusable = (0..size.classes).map(|c| others(&category_of, c)).collect();
        let audio_confusable = (0..size.classes).map(|c| others(&audio_group_of, c)).collect();

        // Frequencies fall linearly from `class_frequency_ratio` to 1 over a random order of the classes.
        let mut rank: Vec<usize> = (0..size.classes).collect();
        rank.shuffle(rng);
        let span = (size.classes - 1) as f64;
        let weights: Vec<f64> =
            rank.iter().map(|&r| 1.0 + (PROCESS.class_frequency_ratio - 1.0) * (span - r as f64) / span).collect();
        let total: f64 = weights.iter().sum();
        let prior = weights.iter().map(|w| w / total).collect();
        let sample_class = WeightedIndex::new(&weights).expect("positive class weights");

        let rgb = Prototypes::new(size.rgb_dim, size.classes, rng);
        let audio = Prototypes::new(size.audio_dim, size.classes, rng);
        World { names, title_words, prior, sample_class, rgb_confusable, audio_confusable, rgb, audio }
    }

    fn classes(&self) -> usize {
        self.names.len()
    }

    fn sample_latent(&self, size: &Size, rng: &mut StdRng) -> Latent {
        let class = self.sample_class.sample(rng);
        let aspect = rng.random_range(0..PROCESS.aspects);
        let signal = Pattern { class, aspect };
        let rgb_distractor =
            Pattern { class: pick(&self.rgb_confusable[class], rng), aspect: other_aspect(aspect, rng) };
        let audio_distractor =
            Pattern { class: pick(&self.audio_confusable[class], rng), aspect: other_aspect(aspect, rng) };
        let labels =
            if rng.random_bool(PROCESS.second_label) { vec![class, rgb_distractor.class] } else { vec![class] };

        // Log-uniform length: many short videos, a few long ones.
        let (lo, hi) = (size.min_frames as f64, (size.max_frames + 1) as f64);
        let frames = (rng.random_range(lo.ln()..hi.ln()).exp() as usize).clamp(size.min_frames, size.max_frames);
        let rgb = sequence(frames, signal, rgb_distractor, PROCESS.rgb_fraction, rng);
        let audio_kind: f64 = rng.random();
        let audio = if audio_kind < PROCESS.audio_empty {
            Vec::new()
        } else {
            // About one 960 ms segment per sampled frame, as in the original's features.
            let segments = (frames + rng.random_range(0..5)).saturating_sub(2).max(1);
            if audio_kind < PROCESS.audio_empty + PROCESS.audio_background_only {
                vec![None; segments]
            } else {
                sequence(segments, signal, audio_distractor, PROCESS.audio_fraction, rng)
            }
        };

        let title = if rng.random_bool(PROCESS.title_empty) {
            TitleCues { empty: true, class: None, aspect: None }
        } else {
            let names: f64 = rng.random();
            let class = if names < PROCESS.title_names_class {
                Some(class)
            } else if names < PROCESS.title_names_class + PROCESS.title_names_confusable {
                Some(pick(&self.rgb_confusable[class], rng))
            } else {
                None
            };
            let aspect = rng.random_bool(PROCESS.title_names_aspect).then_some(aspect);
            TitleCues { empty: false, class, aspect }
        };
        Latent { labels, rgb, audio, title }
    }

    fn render_title(&self, cues: &TitleCues, rng: &mut StdRng) -> String {
        if cues.empty {
            return String::new();
        }
        let mut words: Vec<&str> = Vec::new();
        if let Some(class) = cues.class {
            words.push(pick(self.title_words[class], rng));
        }
        if let Some(aspect) = cues.aspect {
            words.push(pick(&ASPECTS[aspect].1, rng));
        }
        let fillers = if words.is_empty() { rng.random_range(1..=4) } else { rng.random_range(0..=3) };
        for _ in 0..fillers {
            words.push(pick(&FILLERS, rng));
        }
        words.shuffle(rng);
        let mut title = String::new();
        for (i, word) in words.iter().enumerate() {
            if i > 0 {
                title.push_str(pick(&SEPARATORS, rng));
            }
            title.push_str(word);
        }
        title
    }
}

fn pick<T: Copy>(items: &[T], rng: &mut StdRng) -> T {
    *items.choose(rng).expect("a non-empty list")
}

fn other_aspect(aspect: usize, rng: &mut StdRng) -> usize {
    (aspect + rng.random_range(1..PROCESS.aspects)) % PROCESS.aspects
}

/// Each step shows the signal with probability f_s, the distractor with probability f_d, background otherwise;
/// f_s and f_d are drawn independently from the same range, which makes the two roles exchangeable.
fn sequence(
    steps: usize,
    signal: Pattern,
    distractor: Pattern,
    fraction: [f64; 2],
    rng: &mut StdRng,
) -> Vec<Option<Pattern>> {
    let f_signal = rng.random_range(fraction[0]..fraction[1]);
    let f_distractor = rng.random_range(fraction[0]..fraction[1]);
    (0..steps)
        .map(|_| {
            let u: f64 = rng.random();
            if u < f_signal {
                Some(signal)
            } else if u < f_signal + f_distractor {
                Some(distractor)
            } else {
                None
            }
        })
        .collect()
}

impl Prototypes {
    /// Gram-Schmidt on Gaussian vectors (dim >= classes + aspects is checked before).
    fn new(dim: usize, classes: usize, rng: &mut StdRng) -> Prototypes {
        let mut basis: Vec<Vec<f64>> = Vec::with_capacity(classes + PROCESS.aspects);
        while basis.len() < classes + PROCESS.aspects {
            let mut v: Vec<f64> = (0..dim).map(|_| StandardNormal.sample(rng)).collect();
            for b in &basis {
                let dot: f64 = v.iter().zip(b).map(|(x, y)| x * y).sum();
                v.iter_mut().zip(b).for_each(|(x, y)| *x -= dot * y);
            }
            let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
            // A draw (numerically) inside the span so far is redrawn.
            if norm > 1e-6 {
                basis.push(v.iter().map(|x| x / norm).collect());
            }
        }
        let mut as_f32 = basis.into_iter().map(|v| v.into_iter().map(|x| x as f32).collect::<Vec<f32>>());
        let class = as_f32.by_ref().take(classes).collect();
        let aspect = as_f32.collect();
        Prototypes { dim, class, aspect }
    }
}

/// Features of a sequence: noise everywhere, plus the pattern's prototypes on pattern steps.
fn render(steps: &[Option<Pattern>], protos: &Prototypes, rng: &mut StdRng) -> Array2<f32> {
    let dim = protos.dim;
    let mut data: Vec<f32> = Vec::with_capacity(steps.len() * dim);
    for step in steps {
        let start = data.len();
        data.extend((0..dim).map(|_| {
            let z: f32 = StandardNormal.sample(rng);
            PROCESS.noise_std * z
        }));
        if let Some(p) = step {
            let row = &mut data[start..];
            for ((x, c), a) in row.iter_mut().zip(&protos.class[p.class]).zip(&protos.aspect[p.aspect]) {
                *x += PROCESS.amplitude * (c + a);
            }
        }
    }
    Array2::from_shape_vec((steps.len(), dim), data).expect("steps x dim values")
}

/// Upper bound on the chance that a nearest-prototype reader mistakes one frame's pattern: the union bound over
/// the other classes x aspects + 1 means, each at distance >= amplitude * sqrt(2), with the Gaussian tail bounded
/// by phi(z) / z (z = half that distance / noise_std).
fn frame_misread_bound(classes: usize) -> f64 {
    let z = f64::from(PROCESS.amplitude) * std::f64::consts::SQRT_2 / 2.0 / f64::from(PROCESS.noise_std);
    let tail = (-z * z / 2.0).exp() / (2.0 * std::f64::consts::PI).sqrt() / z;
    (classes * PROCESS.aspects) as f64 * tail
}

/// P(k is a true label | what `inputs` shows of `obs`), for every class k, under the true generative process.
///
/// Hypotheses are (class c, aspect a, image distractor d); the audio distractor is summed out inside its
/// likelihood. Factors that are the same for every hypothesis (frame counts, lengths, empty titles, filler
/// words) are left out: they cancel.
fn bayes_label_marginals(world: &World, obs: &Observation, inputs: Inputs) -> Vec<f64> {
    let aspects = PROCESS.aspects;
    let other_aspect_p = 1.0 / (aspects - 1) as f64;
    let mut first = vec![0.0; world.classes()];
    let mut second = vec![0.0; world.classes()];
    let confusable = world.rgb_confusable.iter().zip(&world.audio_confusable);
    for (c, (rgb_others, audio_others)) in confusable.enumerate() {
        let title_class = match (inputs.title_class, obs.title_class) {
            (true, Some(k)) if k == c => PROCESS.title_names_class,
            (true, Some(k)) if rgb_others.contains(&k) => PROCESS.title_names_confusable / rgb_others.len() as f64,
            (true, Some(_)) => 0.0,
            _ => 1.0,
        };
        if title_class == 0.0
            || (inputs.rgb && !obs.rgb.may_involve(c, rgb_others))
            || (inputs.audio && !obs.audio.may_involve(c, audio_others))
        {
            continue;
        }
        for a in 0..aspects {
            if inputs.title_aspect && obs.title_aspect.is_some_and(|b| b != a) {
                continue;
            }
            let signal = |p: Pattern| f64::from(u8::from(p == Pattern { class: c, aspect: a }));
            let audio = if inputs.audio {
                let distractor = |p: Pattern| {
                    if p.aspect != a && audio_others.contains(&p.class) {
                        other_aspect_p / audio_others.len() as f64
                    } else {
                        0.0
                    }
                };
                obs.audio.likelihood(signal, distractor)
            } else {
                1.0
            };
            let weight = world.prior[c] / aspects as f64 * title_class * audio;
            if weight == 0.0 {
                continue;
            }
            for &d in rgb_others {
                let rgb = if inputs.rgb {
                    let distractor = |p: Pattern| {
                        if p.class == d && p.aspect != a {
                            other_aspect_p
                        } else {
                            0.0
                        }
                    };
                    obs.rgb.likelihood(signal, distractor)
                } else {
                    1.0
                };
                let w = weight / rgb_others.len() as f64 * rgb;
                first[c] += w;
                second[d] += w;
            }
        }
    }
    let total: f64 = first.iter().sum();
    first.iter().zip(&second).map(|(f, s)| (f + PROCESS.second_label * s) / total).collect()
}

/// Index of the largest value (the first of equals) and the value.
fn best(values: &[f64]) -> (usize, f64) {
    values.iter().copied().enumerate().fold((0, f64::MIN), |acc, (i, v)| if v > acc.1 { (i, v) } else { acc })
}

#[derive(Serialize)]
struct CeilingRow {
    inputs: &'static str,
    /// E[max_k P(k is a label | inputs)] x 100: the Bayes-optimal Hit@1 in expectation over the process.
    expected: f64,
    expected_std_error: f64,
    /// The Bayes-optimal rule's Hit@1 x 100 on the written val split.
    val_split: f64,
}

#[derive(Serialize)]
struct Ceiling {
    draws: usize,
    rows: Vec<CeilingRow>,
}

impl Ceiling {
    fn compute(world: &World, size: &Size, seed: u64, val: &[(Observation, Vec<usize>)]) -> Ceiling {
        let mut rng = StdRng::seed_from_u64(seed);
        let draws: Vec<Observation> =
            (0..CEILING_DRAWS).map(|_| world.sample_latent(size, &mut rng).observation()).collect();
        let rows = CEILING_INPUTS
            .iter()
            .map(|&(name, inputs)| {
                let best_p: Vec<f64> = draws.iter().map(|o| best(&bayes_label_marginals(world, o, inputs)).1).collect();
                let n = best_p.len() as f64;
                let mean = best_p.iter().sum::<f64>() / n;
                let var = best_p.iter().map(|p| (p - mean).powi(2)).sum::<f64>() / (n - 1.0);
                let hits = val
                    .iter()
                    .filter(|(obs, labels)| labels.contains(&best(&bayes_label_marginals(world, obs, inputs)).0))
                    .count();
                CeilingRow {
                    inputs: name,
                    expected: round2(100.0 * mean),
                    expected_std_error: round2(100.0 * (var / n).sqrt()),
                    val_split: round2(100.0 * hits as f64 / val.len() as f64),
                }
            })
            .collect();
        Ceiling { draws: CEILING_DRAWS, rows }
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// DIR/benchmark.json: the parameters and the ceiling.
#[derive(Serialize)]
struct Benchmark<'a> {
    generator: &'static str,
    preset: Preset,
    seed: u64,
    #[serde(flatten)]
    size: &'a Size,
    process: &'a Process,
    aspect_names: Vec<&'static str>,
    frame_misread_bound: f64,
    ceiling_hit1: &'a Ceiling,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every cue word must be told apart from every other title word, or titles would be ambiguous.
    #[test]
    fn title_words_are_distinct_and_not_inside_one_another() {
        let mut words: Vec<&str> = FILLERS.to_vec();
        for (_, aspect_words) in &ASPECTS {
            words.extend(aspect_words);
        }
        for (_, subclasses) in &CATEGORIES {
            for (_, class_words) in subclasses {
                words.extend(class_words);
            }
        }
        for (i, a) in words.iter().enumerate() {
            for b in &words[i + 1..] {
                assert!(!a.contains(b) && !b.contains(a), "title words {a:?} and {b:?} overlap");
            }
        }
    }

    /// The oracle's posterior is calibrated: over videos drawn from the process, the Bayes rule's realized
    /// Hit@1 matches the expected max posterior (within 4 standard errors), for every input subset. A wrong
    /// likelihood anywhere makes the two disagree.
    #[test]
    fn ceiling_posterior_is_calibrated() {
        let size = Preset::Tiny.size();
        let world = World::new(&size, &mut StdRng::seed_from_u64(11));
        let mut rng = StdRng::seed_from_u64(5);
        let draws = 60_000;
        let videos: Vec<Latent> = (0..draws).map(|_| world.sample_latent(&size, &mut rng)).collect();
        for (name, inputs) in CEILING_INPUTS {
            let (mut expected, mut hits) = (0.0, 0usize);
            for video in &videos {
                let (k, p) = best(&bayes_label_marginals(&world, &video.observation(), inputs));
                expected += p;
                hits += usize::from(video.labels.contains(&k));
            }
            let expected = expected / draws as f64;
            let realized = hits as f64 / draws as f64;
            let std_error = (expected * (1.0 - expected) / draws as f64).sqrt();
            assert!(
                (expected - realized).abs() < 4.0 * std_error,
                "{name}: expected Hit@1 {expected:.4}, realized {realized:.4}"
            );
        }
    }
}
