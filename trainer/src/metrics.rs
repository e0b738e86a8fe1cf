//! Tagging metrics over a probability matrix `[videos, classes]` and each video's true class indices.
//!
//! Pure functions: they do not care whether the scores came from the trainer or from an exported model.
//! Definitions: Hit@k as the original (a video scores if any true label is among its k best classes);
//! GAP@k and PERR as YouTube-8M's starter code; average precision as scikit-learn's
//! `average_precision_score` (tied scores form one threshold).

use ndarray::{ArrayView1, ArrayView2};

/// Class indices of one row, best score first; ties keep the lower class index first.
fn ranked(row: ArrayView1<f32>) -> Vec<usize> {
    let mut order: Vec<usize> = (0..row.len()).collect();
    order.sort_by(|&a, &b| row[b].total_cmp(&row[a]));
    order
}

/// Fraction of videos with a true label among their `k` best-scored classes (0 for no videos).
pub fn hit_at_k(probs: ArrayView2<f32>, labels: &[Vec<usize>], k: usize) -> f64 {
    let hits = probs
        .rows()
        .into_iter()
        .zip(labels)
        .filter(|(row, truth)| ranked(*row).iter().take(k).any(|c| truth.contains(c)))
        .count();
    ratio(hits as f64, probs.nrows() as f64)
}

/// YouTube-8M's global average precision: every video's `k` best predictions pooled and ranked by score,
/// precision summed at each true one, divided by the total number of true labels (also those outside the top k).
pub fn gap_at_k(probs: ArrayView2<f32>, labels: &[Vec<usize>], k: usize) -> f64 {
    let mut pooled: Vec<(f32, bool)> = Vec::with_capacity(probs.nrows() * k);
    for (row, truth) in probs.rows().into_iter().zip(labels) {
        pooled.extend(ranked(row).into_iter().take(k).map(|c| (row[c], truth.contains(&c))));
    }
    // Stable: equal scores stay in video order, as the reference's stable sort keeps them.
    pooled.sort_by(|a, b| b.0.total_cmp(&a.0));
    let total_positives: usize = labels.iter().map(Vec::len).sum();
    let mut found = 0usize;
    let mut sum = 0.0;
    for (i, &(_, positive)) in pooled.iter().enumerate() {
        if positive {
            found += 1;
            sum += found as f64 / (i + 1) as f64;
        }
    }
    ratio(sum, total_positives as f64)
}

/// scikit-learn's average precision of one ranking: sum over distinct thresholds of
/// (recall gained) x (precision there). `None` when there is no positive (undefined).
pub fn average_precision(scores: &[f32], positive: &[bool]) -> Option<f64> {
    let total = positive.iter().filter(|&&p| p).count();
    if total == 0 {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let (mut tp, mut seen, mut ap, mut last_recall) = (0usize, 0usize, 0.0, 0.0);
    for (i, &idx) in order.iter().enumerate() {
        seen += 1;
        tp += usize::from(positive[idx]);
        let group_ends = order.get(i + 1).is_none_or(|&next| scores[next] != scores[idx]);
        if group_ends {
            let recall = tp as f64 / total as f64;
            ap += (recall - last_recall) * (tp as f64 / seen as f64);
            last_recall = recall;
        }
    }
    Some(ap)
}

/// Each class's average precision over the videos (`None` for a class with no true video) and its support.
pub fn per_class_ap(probs: ArrayView2<f32>, labels: &[Vec<usize>]) -> Vec<(Option<f64>, usize)> {
    probs
        .columns()
        .into_iter()
        .enumerate()
        .map(|(class, column)| {
            let positive: Vec<bool> = labels.iter().map(|truth| truth.contains(&class)).collect();
            let support = positive.iter().filter(|&&p| p).count();
            (average_precision(&column.to_vec(), &positive), support)
        })
        .collect()
}

/// Mean of the defined per-class APs (classes without a true video are left out, not counted as 0).
pub fn mean_ap(per_class: &[(Option<f64>, usize)]) -> f64 {
    let defined: Vec<f64> = per_class.iter().filter_map(|(ap, _)| *ap).collect();
    ratio(defined.iter().sum(), defined.len() as f64)
}

/// Precision at equal recall rate: for a video with n true labels, the fraction of its n best classes that are
/// true; averaged over the videos that have labels.
pub fn perr(probs: ArrayView2<f32>, labels: &[Vec<usize>]) -> f64 {
    let (mut sum, mut videos) = (0.0, 0usize);
    for (row, truth) in probs.rows().into_iter().zip(labels) {
        if truth.is_empty() {
            continue;
        }
        let correct = ranked(row).iter().take(truth.len()).filter(|c| truth.contains(c)).count();
        sum += correct as f64 / truth.len() as f64;
        videos += 1;
    }
    ratio(sum, videos as f64)
}

/// Micro-averaged decision quality when every class with probability >= the threshold is predicted.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct ThresholdScores {
    pub threshold: f64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

pub fn at_threshold(probs: ArrayView2<f32>, labels: &[Vec<usize>], threshold: f64) -> ThresholdScores {
    let (mut tp, mut predicted) = (0usize, 0usize);
    for (row, truth) in probs.rows().into_iter().zip(labels) {
        for (class, &p) in row.iter().enumerate() {
            if f64::from(p) >= threshold {
                predicted += 1;
                tp += usize::from(truth.contains(&class));
            }
        }
    }
    let actual: usize = labels.iter().map(Vec::len).sum();
    let precision = ratio(tp as f64, predicted as f64);
    let recall = ratio(tp as f64, actual as f64);
    ThresholdScores { threshold, precision, recall, f1: ratio(2.0 * precision * recall, precision + recall) }
}

/// `num / den`, 0 when the denominator is 0 (an empty set scores 0 rather than NaN in the JSON report).
fn ratio(num: f64, den: f64) -> f64 {
    if den == 0.0 {
        0.0
    } else {
        num / den
    }
}
