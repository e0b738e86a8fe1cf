//! The output folder in the original's layout: class.txt, the split files and their videos' feature files,
//! and JSON files beside them; with counts of what was written.

use crate::ceiling::Observation;
use crate::video::{render, Latent};
use crate::world::World;
use anyhow::{bail, Context, Result};
use mvt_formats::dataset::FEATURE_DIR;
use mvt_formats::feature_file::{write_feature_file, FeatureFile};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use std::fmt::Write as _;
use std::fs;
use std::path::Path;

/// Creates `out` (an existing one must be empty) and its feature folder.
pub(crate) fn prepare_out_dir(out: &Path) -> Result<()> {
    if out.exists() {
        let mut entries = fs::read_dir(out).with_context(|| format!("reading {}", out.display()))?;
        if entries.next().is_some() {
            bail!("{} exists and is not empty; remove it or choose another --out", out.display());
        }
    }
    fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let features_dir = out.join(FEATURE_DIR);
    fs::create_dir(&features_dir).with_context(|| format!("creating {}", features_dir.display()))
}

/// OUT/class.txt: the class names, one per line, in class-index order.
pub(crate) fn write_class_txt(out: &Path, world: &World) -> Result<()> {
    let class_txt: String = world.names.iter().map(|n| format!("{n}\n")).collect();
    fs::write(out.join("class.txt"), class_txt).context("writing class.txt")
}

/// `value` as pretty JSON with a final newline, at OUT/`name`.
pub(crate) fn write_json(out: &Path, name: &str, value: &impl Serialize) -> Result<()> {
    let json = serde_json::to_string_pretty(value)? + "\n";
    fs::write(out.join(name), json).with_context(|| format!("writing {name}"))
}

/// What the splits written so far hold.
pub(crate) struct Stats {
    /// Bytes of feature files.
    pub(crate) bytes: u64,
    pub(crate) empty_titles: usize,
    pub(crate) empty_audio: usize,
    pub(crate) two_labels: usize,
    pub(crate) min_frames: usize,
    pub(crate) max_frames: usize,
}

impl Stats {
    pub(crate) fn new() -> Stats {
        Stats { bytes: 0, empty_titles: 0, empty_audio: 0, two_labels: 0, min_frames: usize::MAX, max_frames: 0 }
    }
}

/// Writes `count` videos' feature files and the split file; returns what the oracle sees of each video with
/// its labels, for the split's own ceiling.
pub(crate) fn write_split(
    out: &Path,
    split_file: &str,
    count: usize,
    world: &World,
    master: &mut StdRng,
    stats: &mut Stats,
) -> Result<Vec<(Observation, Vec<usize>)>> {
    let mut lines = String::new();
    let mut seen = Vec::with_capacity(count);
    for _ in 0..count {
        // One generator per video, seeded from the master stream: videos do not depend on each other's draws.
        let mut rng = StdRng::seed_from_u64(master.random());
        let name = format!("{:032x}", rng.random::<u128>());
        let latent = Latent::sample(world, &mut rng);
        let title = latent.title.render(world, &mut rng);
        let file = FeatureFile {
            video: format!("{name}.mp4"),
            rgb: render(&latent.rgb, &world.rgb, &mut rng),
            audio: render(&latent.audio, &world.audio, &mut rng),
            labels: latent.labels.iter().map(|&l| l as i64).collect(),
        };
        let bytes = write_feature_file(&file);
        let path = out.join(FEATURE_DIR).join(format!("{name}.pkl"));
        fs::write(&path, &bytes).with_context(|| format!("writing {}", path.display()))?;

        let label_names: Vec<&str> = latent.labels.iter().map(|&l| world.names[l].as_str()).collect();
        writeln!(lines, "{name}.mp4\t{title}\t{}", label_names.join(","))?;
        stats.bytes += bytes.len() as u64;
        stats.empty_titles += usize::from(title.is_empty());
        stats.empty_audio += usize::from(latent.audio.is_empty());
        stats.two_labels += usize::from(latent.labels.len() > 1);
        stats.min_frames = stats.min_frames.min(latent.rgb.len());
        stats.max_frames = stats.max_frames.max(latent.rgb.len());
        seen.push((Observation::of(&latent), latent.labels));
    }
    fs::write(out.join(split_file), lines).with_context(|| format!("writing {split_file}"))?;
    Ok(seen)
}
