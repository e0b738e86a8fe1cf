//! The training-curves PNG: loss, Hit@1 and Hit@2 per epoch, train and validation, side by side.
//!
//! Text is drawn with plotters' pure-Rust `ab_glyph` renderer from the DejaVu Sans font the `dejavu` crate
//! embeds, so no system font library (fontconfig, freetype) is needed at build or run time.

use std::fs::File;
use std::path::Path;
use std::sync::OnceLock;

use anyhow::{anyhow, Context, Result};
use mvt_formats::atomic_file::sync_folder;
use plotters::prelude::*;

use crate::history::EpochRecord;

const FONT: &str = "sans-serif";
/// Whether the embedded font registered (once per process).
static FONT_REGISTERED: OnceLock<bool> = OnceLock::new();

/// One panel: a title and how to read its train and validation values from a record.
struct Panel {
    title: &'static str,
    train: fn(&EpochRecord) -> f64,
    val: fn(&EpochRecord) -> f64,
}

const PANELS: [Panel; 3] = [
    Panel { title: "loss per video", train: |r| r.train_loss, val: |r| r.val_loss },
    Panel { title: "Hit@1", train: |r| r.train_hit_at_1, val: |r| r.val_hit_at_1 },
    Panel { title: "Hit@2", train: |r| r.train_hit_at_2, val: |r| r.val_hit_at_2 },
];

/// Writes `path` (PNG, 1500 x 450) from the epochs so far, atomically: drawn into a temporary file beside it,
/// fsynced, then renamed over it.
pub fn training_curves(path: &Path, history: &[EpochRecord]) -> Result<()> {
    let folder = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let name = path.file_name().map_or("curves".into(), |n| n.to_string_lossy().into_owned());
    // The extension tells plotters to encode PNG; the prefix marks an unfinished file.
    let staged = folder.join(format!(".mvt-tmp-{name}-{}.png", std::process::id()));
    let written = draw(&staged, history).and_then(|()| {
        File::open(&staged).and_then(|file| file.sync_all()).context("syncing the training curves")?;
        std::fs::rename(&staged, path).with_context(|| format!("writing {}", path.display()))?;
        sync_folder(folder).with_context(|| format!("syncing {}", folder.display()))
    });
    if written.is_err() {
        let _ = std::fs::remove_file(&staged);
    }
    written
}

fn draw(path: &Path, history: &[EpochRecord]) -> Result<()> {
    let registered = *FONT_REGISTERED
        .get_or_init(|| plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular()).is_ok());
    if !registered {
        return Err(anyhow!("the font embedded by the dejavu crate does not parse"));
    }
    let root = BitMapBackend::new(path, (1500, 450)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_error)?;
    let last_epoch = history.iter().map(|r| r.epoch).max().unwrap_or(1).max(2) as f64;
    let first_epoch = history.iter().map(|r| r.epoch).min().unwrap_or(1) as f64;
    for (area, panel) in root.split_evenly((1, PANELS.len())).iter().zip(&PANELS) {
        let values = history.iter().flat_map(|r| [(panel.train)(r), (panel.val)(r)]).filter(|v| v.is_finite());
        let (low, high) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
        let (low, high) = if low.is_finite() { (low.min(0.0), high.max(low + 1e-6) * 1.05) } else { (0.0, 1.0) };
        let mut chart = ChartBuilder::on(area)
            .caption(panel.title, (FONT, 22))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d(first_epoch..last_epoch, low..high)
            .map_err(plot_error)?;
        chart.configure_mesh().x_desc("epoch").label_style((FONT, 14)).draw().map_err(plot_error)?;
        for (name, read, color) in [("train", panel.train, BLUE), ("val", panel.val, RED)] {
            let points: Vec<(f64, f64)> = history.iter().map(|r| (r.epoch as f64, read(r))).collect();
            chart
                .draw_series(LineSeries::new(points, color.stroke_width(2)))
                .map_err(plot_error)?
                .label(name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
        }
        chart
            .configure_series_labels()
            .label_font((FONT, 14))
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(plot_error)?;
    }
    root.present().map_err(plot_error)?;
    Ok(())
}

fn plot_error<E: std::fmt::Display>(e: E) -> anyhow::Error {
    anyhow!("drawing the training curves: {e}")
}
