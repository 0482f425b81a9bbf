//! Integration tests for the consultation slice.
