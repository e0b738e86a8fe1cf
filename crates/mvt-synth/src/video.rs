//! One video: its latent content (labels, each frame's and audio segment's pattern, the title's cues) drawn
//! from the world, and its title and features rendered from that.

use crate::world::{Pattern, Prototypes, World, ASPECTS, FILLERS, PROCESS, SEPARATORS};
use ndarray::Array2;
use rand::rngs::StdRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

/// Which cues the title carries (an empty title carries none).
pub(crate) struct TitleCues {
    empty: bool,
    pub(crate) class: Option<usize>,
    pub(crate) aspect: Option<usize>,
}

/// Everything about one video that its files are rendered from.
pub(crate) struct Latent {
    /// Class, then the image distractor class when that is a second label.
    pub(crate) labels: Vec<usize>,
    /// Per frame: its pattern, or `None` for background.
    pub(crate) rgb: Vec<Option<Pattern>>,
    /// Per audio segment; empty for empty audio.
    pub(crate) audio: Vec<Option<Pattern>>,
    pub(crate) title: TitleCues,
}

impl Latent {
    /// Draws one video from the process; every draw comes from `rng`, in a fixed order.
    pub(crate) fn sample(world: &World, rng: &mut StdRng) -> Latent {
        let class = world.sample_class.sample(rng);
        let aspect = rng.random_range(0..PROCESS.aspects);
        let signal = Pattern { class, aspect };
        let rgb_distractor =
            Pattern { class: pick(&world.rgb_confusable[class], rng), aspect: other_aspect(aspect, rng) };
        let audio_distractor =
            Pattern { class: pick(&world.audio_confusable[class], rng), aspect: other_aspect(aspect, rng) };
        let labels =
            if rng.random_bool(PROCESS.second_label) { vec![class, rgb_distractor.class] } else { vec![class] };

        // Log-uniform length: many short videos, a few long ones.
        let (min, max) = (*world.frames.start(), *world.frames.end());
        let (lo, hi) = (min as f64, (max + 1) as f64);
        let frames = (rng.random_range(lo.ln()..hi.ln()).exp() as usize).clamp(min, max);
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
                Some(pick(&world.rgb_confusable[class], rng))
            } else {
                None
            };
            let aspect = rng.random_bool(PROCESS.title_names_aspect).then_some(aspect);
            TitleCues { empty: false, class, aspect }
        };
        Latent { labels, rgb, audio, title }
    }
}

impl TitleCues {
    /// The title's text: its cue words and some fillers in random order, with random separators.
    pub(crate) fn render(&self, world: &World, rng: &mut StdRng) -> String {
        if self.empty {
            return String::new();
        }
        let mut words: Vec<&str> = Vec::new();
        if let Some(class) = self.class {
            words.push(pick(world.title_words[class], rng));
        }
        if let Some(aspect) = self.aspect {
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

/// Features of a sequence: noise everywhere, plus the pattern's prototypes on pattern steps.
pub(crate) fn render(steps: &[Option<Pattern>], protos: &Prototypes, rng: &mut StdRng) -> Array2<f32> {
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
