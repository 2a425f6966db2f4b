/* SPDX-License-Identifier: GPL-2.0 */
/*
 * dmw_compat.h - the few device-mapper API changes the workbook's stages
 * meet between Linux 5.10 and today (module/drift.toml lists them all; each
 * DMW_HAVE_... here is the `compat` of one of its entries).
 *
 * Nothing here reads the kernel's version number. Each DMW_HAVE_NAME comes from
 * dmw_probes.h, which kbuild writes for the kernel being built for by
 * compiling module/compat/probes/NAME.c against its headers (see
 * dmw_probes.kbuild): a backport to a stable or vendor kernel counts as it
 * should. A stage's Kbuild includes dmw_probes.kbuild; its sources include
 * this header after <linux/device-mapper.h> and are written for the newest
 * kernel.
 */
#ifndef DMW_COMPAT_H
#define DMW_COMPAT_H

#if !__has_include("dmw_probes.h")
#error "dmw_probes.h is missing: add `include $(src)/../compat/dmw_probes.kbuild` to the Kbuild"
#endif
#include "dmw_probes.h"

#include <linux/device-mapper.h>
#include <linux/dm-io.h>
#include <linux/ioprio.h>

/*
 * bdev_nr_sectors(): the size of a target's underlying device in 512-byte
 * sectors (since Linux 5.11). Older kernels get one read from the device's
 * inode.
 */
#if !DMW_HAVE_BDEV_NR_SECTORS
#include <linux/fs.h>

static inline sector_t bdev_nr_sectors(struct block_device *bdev)
{
	return i_size_read(bdev->bd_inode) >> SECTOR_SHIFT;
}
#endif

/*
 * STATUSTYPE_IMA (since Linux 5.15): the core asks each target for a
 * key=value summary of its table line, to measure it with IMA. A status
 * function answers it under #if DMW_HAVE_STATUSTYPE_IMA.
 */

/*
 * prepare_ioctl: a target that passes ioctls on to its device names it in
 * *bdev. Since Linux 6.16 (DMW_HAVE_PREPARE_IOCTL_CMD) the callback also
 * takes `unsigned int cmd, unsigned long arg, bool *forward` after bdev.
 */

/* ANCHOR: dm_io */
/*
 * dmw_dm_io(): a synchronous or asynchronous dm_io() at the default I/O
 * priority, whichever form the kernel has: four arguments, the priority as
 * a fifth (6.9, and stable 6.1.83: DMW_HAVE_DM_IO_IOPRIO), or
 * sync_unsup_bits before it (7.2: DMW_HAVE_DM_IO_UNSUP).
 */
static inline int dmw_dm_io(struct dm_io_request *req, unsigned int num_regions,
			    struct dm_io_region *where, unsigned long *error_bits)
{
#if DMW_HAVE_DM_IO_UNSUP
	return dm_io(req, num_regions, where, error_bits, NULL, IOPRIO_DEFAULT);
#elif DMW_HAVE_DM_IO_IOPRIO
	return dm_io(req, num_regions, where, error_bits, IOPRIO_DEFAULT);
#else
	return dm_io(req, num_regions, where, error_bits);
#endif
}
/* ANCHOR_END: dm_io */

/*
 * dm_submit_bio_remap(): how a target sends on a clone it kept (its map
 * returned DM_MAPIO_SUBMITTED), the core then accounting the I/O as it goes
 * if the target set ti->accounts_remapped_io. DMW_HAVE_REMAPPED_IO (from
 * probes/remapped-io.c) says whether the kernel has both; older kernels get
 * a dm_submit_bio_remap() that submits the clone as it is.
 */
#if !DMW_HAVE_REMAPPED_IO
#include <linux/blkdev.h>

static inline void dm_submit_bio_remap(struct bio *clone, struct bio *tgt_clone)
{
	submit_bio_noacct(tgt_clone ? tgt_clone : clone);
}
#endif

#endif /* DMW_COMPAT_H */
