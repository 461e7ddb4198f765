//! The part of policer that the kernel program and user space share.
//!
//! * [`meter`]: the single-bucket TCP-friendly policer with a cumulative debt counter
//!   (DESIGN.md section 2), as one pure, integer-only, panic-free function.
//! * [`parse`]: the frame parser and flow keying, generic over how bytes are read, so the
//!   XDP program and user-space tools key frames identically.
//! * [`rewrite`]: what the ECN and DSCP actions write into a packet.
//! * [`types`]: the `#[repr(C)]` values stored in the BPF maps, and the map names.
#![no_std]

pub mod meter;
pub mod parse;
pub mod rewrite;
pub mod types;

// The kernel crate names `Pod` through this crate, which it depends on for the map types.
pub use bytemuck::Pod;
pub use meter::{Colour, Phase, police, police_and_act};
pub use types::*;
