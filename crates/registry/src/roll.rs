//! Electorates and owner rolls built from the house and people registers for other slices.
