//! `cargo xtask <command>`: placeholder until the componentize step lands.
fn main() {}
