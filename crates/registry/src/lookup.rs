//! Lookups other slices need from the people register, without reading its tables themselves.
