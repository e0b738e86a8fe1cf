//! `mvt-train synth`: a synthetic benchmark in the original's dataset layout, with a known Hit@1 ceiling.
//!
//! The generative process, why each part is there, and how the ceiling is computed: docs/benchmark.md.
//! In short: every video has a class, an aspect (a sub-topic shared by all classes) and, in each of image and
//! audio, a confusable distractor class shown with another aspect. Image confusables share the category, audio
//! confusables share a "column" across categories, the title may name the class (or a confusable one) and the
//! aspect. A frame's features are its pattern's prototype (class + aspect direction) plus Gaussian noise, so an
//! oracle that sees every frame's pattern bounds what any model can reach; `ceiling::bayes_label_marginals` is
//! that oracle's exact posterior.
//!
//! Modules, each using only those listed before it: `world` (the process's parameters, classes, confusables,
//! title words, prototypes), `video` (one video's content, title and features), `ceiling` (the oracle and the
//! ceiling table), `write` (the output folder); this file holds the options, the presets and [`run`].

mod ceiling;
mod video;
mod world;
mod write;

use anyhow::{ensure, Context, Result};
use ceiling::{frame_misread_bound, Ceiling};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use std::fmt::{self, Write as _};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Instant;
use world::{Process, World, ASPECTS, MAX_CLASSES, PROCESS};
use write::{prepare_out_dir, write_class_txt, write_json, write_split, Stats};

/// What to generate and where: the size preset, any of its counts or widths overridden, and the seed.
#[derive(Clone, Debug)]
pub struct SynthOptions {
    /// Output directory (created; an existing one must be empty).
    pub out: PathBuf,
    /// Size preset: tiny (tests, seconds), small (the demo, minutes on CPU), seed (the original's size).
    pub preset: Preset,
    /// Training videos (default: the preset's).
    pub videos: Option<usize>,
    /// Validation videos (default: the preset's).
    pub val_videos: Option<usize>,
    /// Number of classes, 2 to 110 (default: the preset's).
    pub classes: Option<usize>,
    /// Random seed: the same seed and options give byte-identical files.
    pub seed: u64,
    /// Image feature width (default: the preset's).
    pub rgb_dim: Option<usize>,
    /// Audio feature width (default: the preset's).
    pub audio_dim: Option<usize>,
}

/// A size preset: see [`SynthOptions::preset`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Preset {
    Tiny,
    Small,
    Seed,
}

impl Preset {
    const ALL: [Preset; 3] = [Preset::Tiny, Preset::Small, Preset::Seed];

    /// The name `FromStr` accepts and `Display` writes (the same as in benchmark.json).
    pub fn name(self) -> &'static str {
        match self {
            Preset::Tiny => "tiny",
            Preset::Small => "small",
            Preset::Seed => "seed",
        }
    }

    /// The preset's counts, widths and frame-count range.
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

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Preset {
    /// A message naming the valid choices (a `String`, so that clap can show it as is).
    type Err = String;

    fn from_str(s: &str) -> Result<Preset, String> {
        Preset::ALL.into_iter().find(|p| p.name() == s).ok_or_else(|| {
            let names: Vec<&str> = Preset::ALL.iter().map(|p| p.name()).collect();
            format!("unknown preset {s:?}; expected one of: {}", names.join(", "))
        })
    }
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

/// Writes the benchmark to `options.out` and prints a summary with the Hit@1 ceiling to stdout.
pub fn run(options: &SynthOptions) -> Result<()> {
    let started = Instant::now();
    let size = resolve_size(options)?;
    let out = &options.out;
    prepare_out_dir(out)?;
    let mut master = StdRng::seed_from_u64(options.seed);
    let world = World::new(size.classes, size.rgb_dim, size.audio_dim, size.min_frames..=size.max_frames, &mut master);
    let ceiling_seed: u64 = master.random();

    write_class_txt(out, &world)?;
    let mut stats = Stats::new();
    write_split(out, "train.txt", size.train_videos, &world, &mut master, &mut stats)?;
    let val = write_split(out, "val.txt", size.val_videos, &world, &mut master, &mut stats)?;
    let generated_s = started.elapsed().as_secs_f64();

    let ceiling = Ceiling::compute(&world, ceiling_seed, &val);
    let benchmark = Benchmark {
        generator: "mvt-train synth",
        preset: options.preset,
        seed: options.seed,
        size: &size,
        process: &PROCESS,
        aspect_names: ASPECTS.iter().map(|(name, _)| *name).collect(),
        frame_misread_bound: frame_misread_bound(size.classes),
        ceiling_hit1: &ceiling,
    };
    write_json(out, "benchmark.json", &benchmark)?;

    // Written at once and with `?`: a closed stdout (`| head`) is an error, not a panic.
    let summary = summary(&size, out, &stats, generated_s, &ceiling)?;
    std::io::stdout().write_all(summary.as_bytes()).context("writing the summary to stdout")?;
    Ok(())
}

/// What was written, in what time, and the ceiling table.
fn summary(size: &Size, out: &Path, stats: &Stats, generated_s: f64, ceiling: &Ceiling) -> Result<String> {
    let mut summary = format!(
        "wrote {} train + {} val videos, {} classes, dims {}/{} to {} ({:.1} MB) in {:.1} s\n",
        size.train_videos,
        size.val_videos,
        size.classes,
        size.rgb_dim,
        size.audio_dim,
        out.display(),
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
    Ok(summary)
}

fn resolve_size(options: &SynthOptions) -> Result<Size> {
    let mut size = options.preset.size();
    size.classes = options.classes.unwrap_or(size.classes);
    size.train_videos = options.videos.unwrap_or(size.train_videos);
    size.val_videos = options.val_videos.unwrap_or(size.val_videos);
    size.rgb_dim = options.rgb_dim.unwrap_or(size.rgb_dim);
    size.audio_dim = options.audio_dim.unwrap_or(size.audio_dim);
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
