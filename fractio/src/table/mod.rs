//! Sorted table files (to be written).
