//! `credhygiene scan`.
