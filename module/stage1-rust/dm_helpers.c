// SPDX-License-Identifier: GPL-2.0
/*
 * The one thing of hello_target that Rust cannot reach: bio_set_dev() is a
 * static inline in <linux/bio.h>, so there is no symbol to call. This file
 * gives it one. Everything else is Rust (hello_rust.rs and dm.rs).
 */
#include "dm_helpers.h"

/* ANCHOR: shim */
/* bio_set_dev() also clears BIO_REMAPPED and re-associates the blkcg. */
void dmw_bio_set_dev(struct bio *bio, struct block_device *bdev)
{
	bio_set_dev(bio, bdev);
}
/* ANCHOR_END: shim */
