//! Flags whose value names a variant of a library enum. clap lists the names (with the help of those that have
//! one) as it lists a `ValueEnum`'s; the library types stay free of clap.

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use mvt_formats::config::PoolMode;
use mvt_synth::Preset;
use mvt_trainer::device::DeviceChoice;

/// A variant, its name on the command line and its help line, if any.
type Named<T> = (T, &'static str, Option<&'static str>);

/// The parser of a flag whose values are `variants`: a name given on the command line maps back to its variant.
fn choice<T: Copy + Send + Sync + 'static>(variants: Vec<Named<T>>) -> impl TypedValueParser<Value = T> {
    let values = variants.iter().map(|&(_, name, help)| match help {
        Some(help) => PossibleValue::new(name).help(help),
        None => PossibleValue::new(name),
    });
    PossibleValuesParser::new(values.collect::<Vec<_>>()).map(move |given| {
        variants.iter().find(|(_, name, _)| *name == given).expect("clap accepts only the listed names").0
    })
}

pub fn device() -> impl TypedValueParser<Value = DeviceChoice> {
    choice(vec![
        (DeviceChoice::Auto, "auto", Some("CUDA when available, else CPU")),
        (DeviceChoice::Cpu, "cpu", None),
        (DeviceChoice::Cuda, "cuda", None),
    ])
}

pub fn pool_mode() -> impl TypedValueParser<Value = PoolMode> {
    choice(vec![(PoolMode::TextGuide, "text-guide", None), (PoolMode::SelfAttention, "self", None)])
}

/// The synthetic benchmark's size presets, by the names `mvt_synth` gives them.
pub fn preset() -> impl TypedValueParser<Value = Preset> {
    choice([Preset::Tiny, Preset::Small, Preset::Seed].into_iter().map(|p| (p, p.name(), None)).collect())
}
