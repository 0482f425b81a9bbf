//! The demo: a deterministic synthetic street network for the Suining urban area (labelled
//! 「合成路网（演示）」), synthetic buildings per demo community, positions for the register's
//! synthetic facilities, and one analysis so the map is not empty.
