//! Each chapter's steps, written once and run on any [`crate::driver::Backend`].
