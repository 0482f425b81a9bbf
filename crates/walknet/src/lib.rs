//! Routing for 15/10/5-minute life circles (skeleton).
