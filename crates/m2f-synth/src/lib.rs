//! The synthetic talking-face world.
