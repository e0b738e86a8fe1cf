//! Shared by the workspace's test crates (a dev-dependency only): `venv` (the project's venv python and the
//! reference oracles beside this crate, `tests/support/*.py`) and `fixture` (a stand-in model file) and
//! `layout` (small datasets in the original layout).

pub mod fixture;
pub mod layout;
pub mod venv;
