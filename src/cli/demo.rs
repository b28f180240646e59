//! `hapair demo`.

use crate::error::Error;

#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn run(_args: Args) -> Result<u8, Error> {
    Err(super::not_implemented("hapair demo"))
}
