//! The command line's flags, one module per subcommand, each converting into the library's options struct.

pub mod ablate;
pub mod choice;
pub mod devtools;
pub mod evaluate;
pub mod export;
pub mod synth;
pub mod train;
