//! `mvt-train synth` (the `mvt-synth` crate).

use std::path::PathBuf;

use mvt_synth::{Preset, SynthOptions};

use super::choice;

#[derive(clap::Args, Debug)]
pub struct SynthArgs {
    /// Output directory (created; an existing one must be empty).
    #[arg(long)]
    out: PathBuf,
    /// Size preset: tiny (tests, seconds), small (the demo, minutes on CPU), seed (the original's size).
    #[arg(long, value_parser = choice::preset(), default_value_t = Preset::Small)]
    preset: Preset,
    /// Training videos (default: the preset's).
    #[arg(long)]
    videos: Option<usize>,
    /// Validation videos (default: the preset's).
    #[arg(long)]
    val_videos: Option<usize>,
    /// Number of classes, 2 to 110 (default: the preset's).
    #[arg(long)]
    classes: Option<usize>,
    /// Random seed: the same seed and options give byte-identical files.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Image feature width (default: the preset's).
    #[arg(long)]
    rgb_dim: Option<usize>,
    /// Audio feature width (default: the preset's).
    #[arg(long)]
    audio_dim: Option<usize>,
}

impl From<SynthArgs> for SynthOptions {
    fn from(args: SynthArgs) -> SynthOptions {
        SynthOptions {
            out: args.out,
            preset: args.preset,
            videos: args.videos,
            val_videos: args.val_videos,
            classes: args.classes,
            seed: args.seed,
            rgb_dim: args.rgb_dim,
            audio_dim: args.audio_dim,
        }
    }
}
