//! `mvt-train ablate`: the original's ablation rows trained on the same data, each scored on the validation split
//! with and without titles, as a markdown table.
//!
//! With the embedding-only encoder (no `--encoder`), "encoder frozen" means a random token embedding that stays
//! fixed (the TextCNN and everything else train) and "fine-tuned" means the embedding trains too.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use mvt_formats::config::PoolMode;

use crate::checkpoint;
use crate::data::{labels_of, load_data};
use crate::device::DeviceChoice;
use crate::metrics::hit_at_k;
use crate::scoring::score_with_checkpoint;
use crate::train::{self, TrainOptions};

/// The settings every row shares.
#[derive(Clone, Debug)]
pub struct AblateOptions {
    /// The original's INI configuration.
    pub config: PathBuf,
    /// Dataset directory in the original layout.
    pub data: PathBuf,
    /// Each row trains into OUT/<row>; the table is also written to OUT/ablation.md.
    pub out: PathBuf,
    /// Override `[TRAIN] epoch` for every row.
    pub epochs: Option<usize>,
    /// A pretrained encoder for every text row (as [`TrainOptions::encoder`]).
    pub encoder: Option<PathBuf>,
    pub seed: u64,
    pub device: DeviceChoice,
    /// libtorch CPU threads.
    pub threads: usize,
    /// Retrain rows whose folders hold an earlier run (as [`TrainOptions::overwrite`]).
    pub overwrite: bool,
}

/// One row of the table: its label, output folder and how it differs from the default recipe.
struct Row {
    label: &'static str,
    dir: &'static str,
    configure: fn(&mut TrainOptions),
}

const ROWS: [Row; 5] = [
    Row {
        label: "image + audio",
        dir: "image_audio",
        configure: |a| {
            a.no_text = true;
            a.pool_mode = Some(PoolMode::SelfAttention);
        },
    },
    Row {
        label: "+ text, self-attention (encoder frozen)",
        dir: "text_self_frozen",
        configure: |a| {
            a.pool_mode = Some(PoolMode::SelfAttention);
            a.freeze_encoder = true;
        },
    },
    Row {
        label: "+ text fine-tuned, self-attention",
        dir: "text_self_finetuned",
        configure: |a| {
            a.pool_mode = Some(PoolMode::SelfAttention);
            a.finetune_encoder = true;
        },
    },
    Row {
        label: "+ text fine-tuned, text-guided attention",
        dir: "text_guided",
        configure: |a| {
            a.pool_mode = Some(PoolMode::TextGuide);
            a.finetune_encoder = true;
        },
    },
    Row {
        label: "+ text-guided, title drop 0.4",
        dir: "text_guided_title_drop",
        configure: |a| {
            a.pool_mode = Some(PoolMode::TextGuide);
            a.finetune_encoder = true;
            a.title_drop_rate = Some(0.4);
        },
    },
];

/// Validation Hit@1 and Hit@2 of one trained row, with titles and with every title blanked.
#[derive(Clone, Copy, Debug)]
pub struct RowResult {
    pub hit1: f64,
    pub hit2: f64,
    pub hit1_no_title: f64,
    pub hit2_no_title: f64,
    pub seconds: f64,
}

/// Trains and scores every row, prints the table and writes it to OUT/ablation.md.
pub fn run(options: &AblateOptions) -> Result<Vec<RowResult>> {
    let device = options.device.resolve()?;
    let mut results = Vec::with_capacity(ROWS.len());
    for row in &ROWS {
        let started = Instant::now();
        let mut train_options = TrainOptions {
            encoder: options.encoder.clone(),
            device: options.device,
            seed: options.seed,
            epochs: options.epochs,
            threads: options.threads,
            overwrite: options.overwrite,
            ..TrainOptions::new(options.config.clone(), options.data.clone(), options.out.join(row.dir))
        };
        (row.configure)(&mut train_options);
        println!("== {} ==", row.label);
        let summary = train::run(&train_options).with_context(|| format!("training the row '{}'", row.label))?;
        let best = summary.best.with_context(|| format!("the row '{}' saved no checkpoint", row.label))?;
        let ckpt = checkpoint::load(&best)?;
        let (_vs, model) = ckpt.build_model(device)?;
        let data = load_data(&options.data, "val", &ckpt.config.model)?;
        let labels = labels_of(&data.videos);
        let mut hits = [[0.0; 2]; 2];
        for (blank, hit) in [false, true].into_iter().zip(hits.iter_mut()) {
            let scores = score_with_checkpoint(&ckpt, &model, &data.videos, blank, device)?;
            *hit = [hit_at_k(scores.probs.view(), &labels, 1), hit_at_k(scores.probs.view(), &labels, 2)];
        }
        results.push(RowResult {
            hit1: hits[0][0],
            hit2: hits[0][1],
            hit1_no_title: hits[1][0],
            hit2_no_title: hits[1][1],
            seconds: started.elapsed().as_secs_f64(),
        });
    }
    let table = markdown_table(&results);
    println!("\n{table}");
    let path = options.out.join("ablation.md");
    std::fs::write(&path, &table).with_context(|| format!("writing {}", path.display()))?;
    Ok(results)
}

/// The table, percentages with two decimals, in the rows' order.
fn markdown_table(results: &[RowResult]) -> String {
    let mut table = String::from(
        "| model | Hit@1 | Hit@2 | Hit@1 without title | Hit@2 without title | train + eval time (s) |\n\
         |---|---|---|---|---|---|\n",
    );
    for (row, r) in ROWS.iter().zip(results) {
        table.push_str(&format!(
            "| {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.0} |\n",
            row.label,
            r.hit1 * 100.0,
            r.hit2 * 100.0,
            r.hit1_no_title * 100.0,
            r.hit2_no_title * 100.0,
            r.seconds
        ));
    }
    table
}
