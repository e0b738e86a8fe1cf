//! The generative world: the process's parameters, the class grid with its confusable classes and title
//! words, and the feature prototypes; everything fixed by the seed before any video is drawn.

use rand::distr::weighted::WeightedIndex;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand_distr::{Distribution, StandardNormal};
use serde::Serialize;
use std::ops::RangeInclusive;

/// The generative process's probabilities and scales (the same for every preset; see docs/benchmark.md).
#[derive(Debug, Serialize)]
pub(crate) struct Process {
    /// Aspects: sub-topics shared by all classes.
    pub(crate) aspects: usize,
    /// A video's fraction of signal frames and (independently, same range) of distractor frames.
    pub(crate) rgb_fraction: [f64; 2],
    pub(crate) audio_fraction: [f64; 2],
    /// Audio with no segments at all, and audio of background segments only.
    pub(crate) audio_empty: f64,
    pub(crate) audio_background_only: f64,
    /// Probability that the image distractor class is a second true label.
    pub(crate) second_label: f64,
    pub(crate) title_empty: f64,
    /// Of non-empty titles: names the class / names an image-confusable class / names the aspect.
    pub(crate) title_names_class: f64,
    pub(crate) title_names_confusable: f64,
    pub(crate) title_names_aspect: f64,
    /// Class frequencies run linearly from this ratio (most frequent / least frequent) to 1.
    pub(crate) class_frequency_ratio: f64,
    /// A pattern frame is `amplitude * (class prototype + aspect prototype) + noise_std * N(0, I)`, with
    /// orthonormal prototypes; a background frame is the noise alone.
    pub(crate) amplitude: f32,
    pub(crate) noise_std: f32,
}

pub(crate) const PROCESS: Process = Process {
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
pub(crate) const ASPECTS: [(&str, [&str; 4]); 4] = [
    ("教程", ["教程", "教学", "攻略", "手把手"]),
    ("搞笑", ["搞笑", "爆笑", "沙雕", "名场面"]),
    ("日常", ["日常", "vlog", "记录", "碎片"]),
    ("挑战", ["比赛", "挑战", "对决", "PK"]),
];

/// Words that say nothing about class or aspect.
pub(crate) const FILLERS: [&str; 36] = [
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
pub(crate) const SEPARATORS: [&str; 8] = ["", "", "", " ", "，", "！", " | ", " #"];

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
pub(crate) const MAX_CLASSES: usize = CATEGORIES.len() * CLASSES_PER_CATEGORY;

/// A frame's content: one class shown under one aspect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Pattern {
    pub(crate) class: usize,
    pub(crate) aspect: usize,
}

/// Orthonormal directions: one per class, then one per aspect.
pub(crate) struct Prototypes {
    pub(crate) dim: usize,
    pub(crate) class: Vec<Vec<f32>>,
    pub(crate) aspect: Vec<Vec<f32>>,
}

/// The class-level structure fixed by the seed.
pub(crate) struct World {
    pub(crate) names: Vec<String>,
    pub(crate) title_words: Vec<&'static [&'static str]>,
    pub(crate) prior: Vec<f64>,
    pub(crate) sample_class: WeightedIndex<f64>,
    /// Other classes of the same category.
    pub(crate) rgb_confusable: Vec<Vec<usize>>,
    /// Other classes of the same column of the class grid.
    pub(crate) audio_confusable: Vec<Vec<usize>>,
    pub(crate) rgb: Prototypes,
    pub(crate) audio: Prototypes,
    /// Frames per video.
    pub(crate) frames: RangeInclusive<usize>,
}

impl World {
    /// `classes` classes with `rgb_dim`- and `audio_dim`-wide prototypes, for videos of `frames` frames.
    ///
    /// Lays the classes out as a grid: rows are categories (image-confusable), columns are shuffled positions
    /// within each row (audio-confusable), so an image pair and an audio pair share at most one class.
    pub(crate) fn new(
        classes: usize,
        rgb_dim: usize,
        audio_dim: usize,
        frames: RangeInclusive<usize>,
        rng: &mut StdRng,
    ) -> World {
        let rows = classes.div_ceil(CLASSES_PER_CATEGORY);
        let mut names = Vec::with_capacity(classes);
        let mut title_words = Vec::with_capacity(classes);
        let mut category_of = Vec::with_capacity(classes);
        let mut columns: Vec<Vec<usize>> = vec![Vec::new(); CLASSES_PER_CATEGORY];
        for (row, (category, subclasses)) in CATEGORIES.iter().enumerate().take(rows) {
            let in_row = classes / rows + usize::from(row < classes % rows);
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
        let mut audio_group_of = vec![0; classes];
        for (g, group) in audio_groups.iter().enumerate() {
            for &c in group {
                audio_group_of[c] = g;
            }
        }
        let others = |group_of: &[usize], c: usize| -> Vec<usize> {
            (0..classes).filter(|&o| o != c && group_of[o] == group_of[c]).collect()
        };
        let rgb_confusable = (0..classes).map(|c| others(&category_of, c)).collect();
        let audio_confusable = (0..classes).map(|c| others(&audio_group_of, c)).collect();

        // Frequencies fall linearly from `class_frequency_ratio` to 1 over a random order of the classes.
        let mut rank: Vec<usize> = (0..classes).collect();
        rank.shuffle(rng);
        let span = (classes - 1) as f64;
        let weights: Vec<f64> =
            rank.iter().map(|&r| 1.0 + (PROCESS.class_frequency_ratio - 1.0) * (span - r as f64) / span).collect();
        let total: f64 = weights.iter().sum();
        let prior = weights.iter().map(|w| w / total).collect();
        let sample_class = WeightedIndex::new(&weights).expect("positive class weights");

        let rgb = Prototypes::new(rgb_dim, classes, rng);
        let audio = Prototypes::new(audio_dim, classes, rng);
        World { names, title_words, prior, sample_class, rgb_confusable, audio_confusable, rgb, audio, frames }
    }

    pub(crate) fn classes(&self) -> usize {
        self.names.len()
    }
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
}
