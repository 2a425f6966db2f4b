//! The real kernel as a backend (feature `kernel`). Being written.
