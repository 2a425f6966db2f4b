/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What bindgen reads to make the device-mapper bindings (dm_bindings.rs):
 * the kernel's own device-mapper header, and the C helpers of dm_helpers.c.
 */
#include <linux/bio.h>
#include <linux/device-mapper.h>
#include <linux/kstrtox.h>

void dmw_bio_set_dev(struct bio *bio, struct block_device *bdev);
