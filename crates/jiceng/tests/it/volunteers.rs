//! Integration tests for the volunteers slice.
