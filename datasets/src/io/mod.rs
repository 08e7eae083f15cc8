//! A variant on disk and back: [`write`] puts `public/` and `sealed/` in
//! place, [`sealed`] reads what the grader needs (or takes it from memory),
//! both through [`frames`] and the names in [`layout`].

pub(crate) mod frames;
pub mod layout;
pub mod sealed;
pub mod write;
