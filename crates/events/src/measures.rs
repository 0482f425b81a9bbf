//! Aggregates per unit for the indicators slice: one query for a whole subtree, grouped by the
//! village-level prefix, so indicators roll up from exact numerators and denominators.
