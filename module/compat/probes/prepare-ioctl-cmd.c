// SPDX-License-Identifier: GPL-2.0
/*
 * Probe for drift entry prepare-ioctl-cmd: does prepare_ioctl also get the
 * ioctl's cmd and arg and a bool *forward?
 */
#include <linux/device-mapper.h>

static int dmw_prepare(struct dm_target *ti, struct block_device **bdev,
		       unsigned int cmd, unsigned long arg, bool *forward)
{
	return 0;
}

extern struct target_type dmw_probe_type;
struct target_type dmw_probe_type = {
	.prepare_ioctl = dmw_prepare,
};
