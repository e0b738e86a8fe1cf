//! Every metric on a hand-computed example (3 videos, 4 classes; the arithmetic is in the comments).

use mvt_trainer::evaluate::report;
use mvt_trainer::metrics::*;
use ndarray::{array, Array2};

/// Rankings: v0 -> 0, 2, 3, 1; v1 -> 1, 2, 0, 3; v2 -> 0, 1, 2, 3.
fn example() -> (Array2<f32>, Vec<Vec<usize>>) {
    let probs = array![[0.9, 0.1, 0.5, 0.3], [0.2, 0.8, 0.7, 0.1], [0.6, 0.4, 0.3, 0.2]];
    (probs, vec![vec![2], vec![1, 3], vec![3]])
}

fn close(a: f64, b: f64) {
    assert!((a - b).abs() < 1e-9, "{a} != {b}");
}

#[test]
fn hit_at_k_counts_videos_with_a_true_label_in_the_top_k() {
    let (p, l) = example();
    close(hit_at_k(p.view(), &l, 1), 1.0 / 3.0); // only v1's best class (1) is true
    close(hit_at_k(p.view(), &l, 2), 2.0 / 3.0); // + v0 (class 2 second)
    close(hit_at_k(p.view(), &l, 3), 2.0 / 3.0); // v2's class 3 is last
    close(hit_at_k(p.view(), &l, 5), 1.0); // k past the class count takes every class
    close(hit_at_k(Array2::<f32>::zeros((0, 4)).view(), &[], 1), 0.0);
}

#[test]
fn gap_pools_each_videos_top_k_and_divides_by_all_true_labels() {
    let (p, l) = example();
    // top-2 pooled and sorted: .9 F, .8 T, .7 F, .6 F, .5 T, .4 F -> (1/2 + 2/5) / 4 true labels.
    close(gap_at_k(p.view(), &l, 2), (0.5 + 0.4) / 4.0);
    // top-20 = all 12: .9F .8T .7F .6F .5T .4F .3F(v0 c3) .3F(v2 c2) .2F(v1 c0) .2T(v2 c3) .1F .1T
    // (video order among equal scores) -> (1/2 + 2/5 + 3/10 + 4/12) / 4.
    close(gap_at_k(p.view(), &l, 20), (0.5 + 0.4 + 0.3 + 4.0 / 12.0) / 4.0);
}

#[test]
fn average_precision_is_scikit_learns_with_ties_as_one_threshold() {
    // class 3 of the example: scores .3 F, .2 T, .1 T -> 1/2 * 1/2 + 1/2 * 2/3.
    close(average_precision(&[0.3, 0.1, 0.2], &[false, true, true]).unwrap(), 0.25 + 1.0 / 3.0);
    // A tie between a true and a false video is one threshold (P 1/2 at R 1/2), not "true first" (which gives 5/6).
    close(average_precision(&[0.5, 0.5, 0.2], &[true, false, true]).unwrap(), 0.25 + 1.0 / 3.0);
    close(average_precision(&[0.5, 0.5, 0.2], &[false, true, true]).unwrap(), 0.25 + 1.0 / 3.0);
    assert_eq!(average_precision(&[0.5, 0.1], &[false, false]), None);
}

#[test]
fn per_class_ap_support_and_map_skip_classes_without_videos() {
    let (p, l) = example();
    let per_class = per_class_ap(p.view(), &l);
    assert_eq!(per_class[0], (None, 0));
    assert_eq!(per_class[1], (Some(1.0), 1));
    assert_eq!(per_class[2], (Some(0.5), 1)); // .7 F then .5 T
    close(per_class[3].0.unwrap(), 0.25 + 1.0 / 3.0);
    assert_eq!(per_class[3].1, 2);
    close(mean_ap(&per_class), (1.0 + 0.5 + 0.25 + 1.0 / 3.0) / 3.0);
}

#[test]
fn perr_is_precision_at_each_videos_label_count() {
    let (p, l) = example();
    // v0: top-1 {0} -> 0; v1: top-2 {1, 2} -> 1/2; v2: top-1 {0} -> 0.
    close(perr(p.view(), &l), 0.5 / 3.0);
    // A video without labels is left out.
    let mut l2 = l.clone();
    l2[0].clear();
    close(perr(p.view(), &l2), 0.5 / 2.0);
}

#[test]
fn threshold_scores_are_micro_averaged() {
    let (p, l) = example();
    // >= 0.5: v0 {0, 2}, v1 {1, 2}, v2 {0}: 5 predicted, 2 true (v0 c2, v1 c1), 4 true labels.
    let s = at_threshold(p.view(), &l, 0.5);
    close(s.precision, 0.4);
    close(s.recall, 0.5);
    close(s.f1, 2.0 * 0.4 * 0.5 / 0.9);
    let none = at_threshold(p.view(), &l, 0.95);
    assert_eq!((none.precision, none.recall, none.f1), (0.0, 0.0, 0.0));
}

#[test]
fn the_report_gathers_every_metric_with_class_names() {
    let (p, l) = example();
    let classes: Vec<String> = ["a", "b", "c", "d"].iter().map(|s| s.to_string()).collect();
    let r = report(p.view(), &l, &classes, 0.5, Some(1.25));
    assert_eq!(r.videos, 3);
    close(r.hit_at_1, 1.0 / 3.0);
    close(r.hit_at_3, 2.0 / 3.0);
    close(r.perr, 0.5 / 3.0);
    assert_eq!(r.per_class[2].class, "c");
    assert_eq!(r.per_class[3].support, 2);
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["loss"], 1.25);
    assert!(json["per_class"][0]["ap"].is_null());
}
