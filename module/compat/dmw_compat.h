/* SPDX-License-Identifier: GPL-2.0 */
/*
 * dmw_compat.h - the few device-mapper API changes the workbook's stages
 * meet between Linux 5.10 and today (module/drift.toml lists them all; each
 * guard here is the `compat` of one of its entries, at the same release).
 *
 * Each guard below names the release that made the change, so a reader can
 * look it up in the kernel's history. A stage includes this header after
 * <linux/device-mapper.h> and then writes its code for the newest kernel.
 *
 * (checkpatch.pl warns about LINUX_VERSION_CODE: in-tree code has no use
 * for it, but an out-of-tree module built for many kernels does.)
 */
#ifndef DMW_COMPAT_H
#define DMW_COMPAT_H

#include <linux/version.h>
#include <linux/device-mapper.h>

/*
 * bdev_nr_sectors(): the size of a target's underlying device in 512-byte
 * sectors. DMW_HAVE_BDEV_NR_SECTORS says whether the kernel has its own;
 * older kernels get one read from the device's inode.
 */
/* Linux 5.11: bdev_nr_sectors() arrives as the nr_sects field goes. */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(5, 11, 0)
#define DMW_HAVE_BDEV_NR_SECTORS 1
#else
#define DMW_HAVE_BDEV_NR_SECTORS 0
#endif

#if !DMW_HAVE_BDEV_NR_SECTORS
#include <linux/fs.h>

static inline sector_t bdev_nr_sectors(struct block_device *bdev)
{
	return i_size_read(bdev->bd_inode) >> SECTOR_SHIFT;
}
#endif

/* ANCHOR: statustype_ima */
/*
 * STATUSTYPE_IMA: the core asks each target for a key=value summary of its
 * table line, to measure it with IMA. DMW_HAVE_STATUSTYPE_IMA says whether a
 * status function can be asked for it.
 */
/* Linux 5.15: STATUSTYPE_IMA joins STATUSTYPE_INFO and STATUSTYPE_TABLE. */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(5, 15, 0)
#define DMW_HAVE_STATUSTYPE_IMA 1
#else
#define DMW_HAVE_STATUSTYPE_IMA 0
#endif
/* ANCHOR_END: statustype_ima */

/*
 * prepare_ioctl: a target that passes ioctls on to its device names it in
 * *bdev. DMW_HAVE_PREPARE_IOCTL_CMD says whether the callback also takes
 * `unsigned int cmd, unsigned long arg, bool *forward` after bdev.
 */
/* Linux 6.16: prepare_ioctl gets the ioctl's cmd and arg and a bool *forward. */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 16, 0)
#define DMW_HAVE_PREPARE_IOCTL_CMD 1
#else
#define DMW_HAVE_PREPARE_IOCTL_CMD 0
#endif

/*
 * dm_submit_bio_remap(): how a target sends on a clone it kept (its map
 * returned DM_MAPIO_SUBMITTED), the core then accounting the I/O as it goes
 * if the target set ti->accounts_remapped_io. DMW_HAVE_DM_SUBMIT_BIO_REMAP
 * says whether the kernel has both; older kernels get a dm_submit_bio_remap()
 * that submits the clone as it is.
 */
/* Linux 5.18: dm_submit_bio_remap() and ti->accounts_remapped_io arrive. */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(5, 18, 0)
#define DMW_HAVE_DM_SUBMIT_BIO_REMAP 1
#else
#define DMW_HAVE_DM_SUBMIT_BIO_REMAP 0
#endif

#if !DMW_HAVE_DM_SUBMIT_BIO_REMAP
#include <linux/blkdev.h>

static inline void dm_submit_bio_remap(struct bio *clone, struct bio *tgt_clone)
{
	submit_bio_noacct(tgt_clone ? tgt_clone : clone);
}
#endif

#endif /* DMW_COMPAT_H */
