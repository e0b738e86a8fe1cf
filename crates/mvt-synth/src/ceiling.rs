//! The Hit@1 ceiling: the Bayes oracle that sees every frame's pattern, the best any model can do (a model sees
//! noisy features instead; `frame_misread_bound` says how little that costs), and its expected and val-split
//! Hit@1 for each subset of the inputs.

use crate::video::Latent;
use crate::world::{Pattern, World, PROCESS};
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::Serialize;

/// Draws for the expected ceiling; its standard error is reported next to it.
const CEILING_DRAWS: usize = 20_000;

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
pub(crate) struct Observation {
    rgb: Seen,
    audio: Seen,
    title_class: Option<usize>,
    title_aspect: Option<usize>,
}

impl Observation {
    /// What the oracle observes of `video`.
    pub(crate) fn of(video: &Latent) -> Observation {
        Observation {
            rgb: Seen::of(&video.rgb),
            audio: Seen::of(&video.audio),
            title_class: video.title.class,
            title_aspect: video.title.aspect,
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

/// Upper bound on the chance that a nearest-prototype reader mistakes one frame's pattern: the union bound over
/// the other classes x aspects + 1 means, each at distance >= amplitude * sqrt(2), with the Gaussian tail bounded
/// by phi(z) / z (z = half that distance / noise_std).
pub(crate) fn frame_misread_bound(classes: usize) -> f64 {
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
pub(crate) struct CeilingRow {
    pub(crate) inputs: &'static str,
    /// E[max_k P(k is a label | inputs)] x 100: the Bayes-optimal Hit@1 in expectation over the process.
    pub(crate) expected: f64,
    pub(crate) expected_std_error: f64,
    /// The Bayes-optimal rule's Hit@1 x 100 on the written val split.
    pub(crate) val_split: f64,
}

#[derive(Serialize)]
pub(crate) struct Ceiling {
    draws: usize,
    pub(crate) rows: Vec<CeilingRow>,
}

impl Ceiling {
    /// The expected ceilings over `CEILING_DRAWS` videos drawn with `seed`, and the Bayes rule's Hit@1 on `val`
    /// (what the oracle sees of each val video, with the video's labels).
    pub(crate) fn compute(world: &World, seed: u64, val: &[(Observation, Vec<usize>)]) -> Ceiling {
        let mut rng = StdRng::seed_from_u64(seed);
        let draws: Vec<Observation> =
            (0..CEILING_DRAWS).map(|_| Observation::of(&Latent::sample(world, &mut rng))).collect();
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The oracle's posterior is calibrated: over videos drawn from the process, the Bayes rule's realized
    /// Hit@1 matches the expected max posterior (within 4 standard errors), for every input subset. A wrong
    /// likelihood anywhere makes the two disagree.
    #[test]
    fn ceiling_posterior_is_calibrated() {
        // The tiny preset's world, at the narrowest feature widths: features play no part in the oracle.
        let world = World::new(8, 12, 12, 3..=40, &mut StdRng::seed_from_u64(11));
        let mut rng = StdRng::seed_from_u64(5);
        let draws = 60_000;
        let videos: Vec<Latent> = (0..draws).map(|_| Latent::sample(&world, &mut rng)).collect();
        for (name, inputs) in CEILING_INPUTS {
            let (mut expected, mut hits) = (0.0, 0usize);
            for video in &videos {
                let (k, p) = best(&bayes_label_marginals(&world, &Observation::of(video), inputs));
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
