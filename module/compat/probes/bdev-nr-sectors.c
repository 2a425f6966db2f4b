// SPDX-License-Identifier: GPL-2.0
/* Probe for drift entry bdev-nr-sectors: does the kernel have bdev_nr_sectors()? */
#include <linux/blkdev.h>

sector_t dmw_probe(struct block_device *bdev);
sector_t dmw_probe(struct block_device *bdev)
{
	return bdev_nr_sectors(bdev);
}
