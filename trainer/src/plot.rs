//! The PNG charts: the training curves (loss, Hit@1 and Hit@2 per epoch, train and validation, side by side) and
//! the bar charts of `make bench` (`mvt-train bar-chart`).
//!
//! Text is drawn with plotters' pure-Rust `ab_glyph` renderer from the DejaVu Sans font the `dejavu` crate
//! embeds, so no system font library (fontconfig, freetype) is needed at build or run time.

use std::fs::File;
use std::path::Path;
use std::sync::OnceLock;

use anyhow::{anyhow, ensure, Context, Result};
use mvt_formats::atomic_file::sync_folder;
use plotters::prelude::*;
use serde::Deserialize;

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

/// Writes `path` (PNG, 1500 x 450) from the epochs so far, atomically ([`write_png`]).
pub fn training_curves(path: &Path, history: &[EpochRecord]) -> Result<()> {
    write_png(path, |staged| draw(staged, history)).context("the training curves")
}

/// Writes the PNG `path` with `draw`, atomically: drawn into a temporary file beside it, fsynced, then renamed
/// over it; on failure the temporary file is removed and `path` is untouched.
fn write_png(path: &Path, draw: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let folder = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let name = path.file_name().map_or("chart".into(), |n| n.to_string_lossy().into_owned());
    // The extension tells plotters to encode PNG; the prefix marks an unfinished file.
    let staged = folder.join(format!(".mvt-tmp-{name}-{}.png", std::process::id()));
    let written = draw(&staged).and_then(|()| {
        File::open(&staged).and_then(|file| file.sync_all()).context("syncing the PNG")?;
        std::fs::rename(&staged, path).with_context(|| format!("writing {}", path.display()))?;
        sync_folder(folder).with_context(|| format!("syncing {}", folder.display()))
    });
    if written.is_err() {
        let _ = std::fs::remove_file(&staged);
    }
    written
}

fn register_font() -> Result<()> {
    let registered = *FONT_REGISTERED
        .get_or_init(|| plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular()).is_ok());
    ensure!(registered, "the font embedded by the dejavu crate does not parse");
    Ok(())
}

/// A bar chart: one panel per group, one horizontal bar per labelled value (`mvt-train bar-chart`'s JSON).
#[derive(Debug, Deserialize)]
pub struct BarChart {
    pub title: String,
    /// The values' unit, written under each panel's axis.
    pub unit: String,
    pub panels: Vec<BarPanel>,
}

#[derive(Debug, Deserialize)]
pub struct BarPanel {
    pub title: String,
    pub bars: Vec<Bar>,
}

#[derive(Debug, Deserialize)]
pub struct Bar {
    pub label: String,
    pub value: f64,
}

/// Writes `chart` to the PNG `path` (1400 wide; panels stacked, each 90 + 40 per bar high, under a 50-pixel
/// title), atomically.
pub fn bar_chart(path: &Path, chart: &BarChart) -> Result<()> {
    ensure!(!chart.panels.is_empty(), "the chart has no panel");
    for panel in &chart.panels {
        ensure!(!panel.bars.is_empty(), "panel {:?} has no bar", panel.title);
        ensure!(panel.bars.len() <= 64, "panel {:?} has {} bars (at most 64)", panel.title, panel.bars.len());
        if let Some(bar) = panel.bars.iter().find(|b| !(b.value.is_finite() && b.value >= 0.0)) {
            anyhow::bail!(
                "bar {:?} of panel {:?} has value {}: expected a finite value >= 0",
                bar.label,
                panel.title,
                bar.value
            );
        }
    }
    ensure!(chart.panels.len() <= 16, "{} panels (at most 16)", chart.panels.len());
    write_png(path, |staged| draw_bars(staged, chart)).context("the bar chart")
}

fn draw_bars(path: &Path, chart: &BarChart) -> Result<()> {
    register_font()?;
    let heights: Vec<u32> = chart.panels.iter().map(|p| 90 + 40 * p.bars.len() as u32).collect();
    let canvas = BitMapBackend::new(path, (1400, 50 + heights.iter().sum::<u32>())).into_drawing_area();
    canvas.fill(&WHITE).map_err(plot_error)?;
    let mut rest = canvas.titled(&chart.title, (FONT, 26)).map_err(plot_error)?;
    for (panel, height) in chart.panels.iter().zip(heights) {
        let (area, below) = rest.split_vertically(height);
        rest = below;
        let high = panel.bars.iter().map(|b| b.value).fold(0.0, f64::max).max(1e-9) * 1.15;
        let n = panel.bars.len();
        let mut plot = ChartBuilder::on(&area)
            .caption(&panel.title, (FONT, 20))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(380)
            .build_cartesian_2d(0.0..high, (0..n).into_segmented())
            .map_err(plot_error)?;
        let label = |v: &SegmentValue<usize>| match v {
            SegmentValue::CenterOf(i) if *i < n => panel.bars[n - 1 - *i].label.clone(),
            _ => String::new(),
        };
        plot.configure_mesh()
            .disable_y_mesh()
            .y_labels(n)
            .y_label_formatter(&label)
            .x_desc(chart.unit.as_str())
            .label_style((FONT, 15))
            .draw()
            .map_err(plot_error)?;
        // The first bar on top: segment n - 1 - i holds bar i.
        plot.draw_series(panel.bars.iter().enumerate().map(|(i, bar)| {
            let row = n - 1 - i;
            let mut rect = Rectangle::new(
                [(0.0, SegmentValue::Exact(row)), (bar.value, SegmentValue::Exact(row + 1))],
                Palette99::pick(i).filled(),
            );
            rect.set_margin(6, 6, 0, 0);
            rect
        }))
        .map_err(plot_error)?;
        plot.draw_series(panel.bars.iter().enumerate().map(|(i, bar)| {
            Text::new(format!(" {:.1}", bar.value), (bar.value, SegmentValue::CenterOf(n - 1 - i)), (FONT, 15))
        }))
        .map_err(plot_error)?;
    }
    canvas.present().map_err(plot_error)?;
    Ok(())
}

fn draw(path: &Path, history: &[EpochRecord]) -> Result<()> {
    register_font()?;
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
    anyhow!("drawing: {e}")
}
