// SPDX-License-Identifier: GPL-2.0
/*
 * tally - a passthrough that counts what passes, with a message to reset.
 *
 *   <start> <length> tally <device> <start-sector>
 * `dmsetup status` prints
 *   reads=R read_sectors=RS writes=W write_sectors=WS
 * and `dmsetup message <device> 0 reset` sets every counter to 0. Any other
 * message is refused, with its reason in the kernel log.
 */

#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/slab.h>
#include <linux/bio.h>
#include <linux/atomic.h>
#include <linux/string.h>
#include <linux/device-mapper.h>

#include "dmw_compat.h"

#define DM_MSG_PREFIX "tally"

/* ANCHOR: context */
struct tally_c {
	struct dm_dev *dev;
	sector_t start;
	/* Added to by map on any CPU at once: atomic, no lock. */
	atomic64_t reads;
	atomic64_t read_sectors;
	atomic64_t writes;
	atomic64_t write_sectors;
};
/* ANCHOR_END: context */

static int tally_ctr(struct dm_target *ti, unsigned int argc, char **argv)
{
	struct tally_c *tc;
	unsigned long long start;
	int ret;

	if (argc != 2) {
		ti->error = "Invalid argument count";
		return -EINVAL;
	}
	if (kstrtoull(argv[1], 10, &start)) {
		ti->error = "Invalid device sector";
		return -EINVAL;
	}
	/* kzalloc: every counter starts at 0. */
	tc = kzalloc(sizeof(*tc), GFP_KERNEL);
	if (!tc) {
		ti->error = "Cannot allocate context";
		return -ENOMEM;
	}
	tc->start = start;
	ret = dm_get_device(ti, argv[0], dm_table_get_mode(ti->table), &tc->dev);
	if (ret) {
		ti->error = "Device lookup failed";
		kfree(tc);
		return ret;
	}
	ti->num_flush_bios = 1;
	ti->num_discard_bios = 1;
	ti->private = tc;
	return 0;
}

static void tally_dtr(struct dm_target *ti)
{
	struct tally_c *tc = ti->private;

	dm_put_device(ti, tc->dev);
	kfree(tc);
}

/* ANCHOR: map */
static int tally_map(struct dm_target *ti, struct bio *bio)
{
	struct tally_c *tc = ti->private;

	/* An empty flush is a write without sectors: not a write to count. */
	switch (bio_op(bio)) {
	case REQ_OP_READ:
		atomic64_inc(&tc->reads);
		atomic64_add(bio_sectors(bio), &tc->read_sectors);
		break;
	case REQ_OP_WRITE:
		if (bio_sectors(bio)) {
			atomic64_inc(&tc->writes);
			atomic64_add(bio_sectors(bio), &tc->write_sectors);
		}
		break;
	default:
		break;
	}

	bio_set_dev(bio, tc->dev->bdev);
	if (bio_sectors(bio))
		bio->bi_iter.bi_sector = tc->start +
			dm_target_offset(ti, bio->bi_iter.bi_sector);
	return DM_MAPIO_REMAPPED;
}
/* ANCHOR_END: map */

/* ANCHOR: status */
static void tally_status(struct dm_target *ti, status_type_t type,
			 unsigned int status_flags, char *result,
			 unsigned int maxlen)
{
	struct tally_c *tc = ti->private;
	size_t sz = 0;	/* DMEMIT appends at result + sz */

	switch (type) {
	case STATUSTYPE_INFO:
		DMEMIT("reads=%lld read_sectors=%lld writes=%lld write_sectors=%lld",
		       (long long)atomic64_read(&tc->reads),
		       (long long)atomic64_read(&tc->read_sectors),
		       (long long)atomic64_read(&tc->writes),
		       (long long)atomic64_read(&tc->write_sectors));
		break;

	case STATUSTYPE_TABLE:
		DMEMIT("%s %llu", tc->dev->name, (unsigned long long)tc->start);
		break;

#if DMW_HAVE_STATUSTYPE_IMA
	case STATUSTYPE_IMA:
		DMEMIT("target_name=%s,target_version=%u.%u.%u;", ti->type->name,
		       ti->type->version[0], ti->type->version[1],
		       ti->type->version[2]);
		break;
#endif
	}
}
/* ANCHOR_END: status */

/* ANCHOR: message */
/* TODO 1: `reset` (no other word) zeroes the counters; refuse the rest. */
/* ANCHOR_END: message */

static int tally_iterate_devices(struct dm_target *ti,
				 iterate_devices_callout_fn fn, void *data)
{
	struct tally_c *tc = ti->private;

	return fn(ti, tc->dev, tc->start, ti->len, data);
}

static struct target_type tally_target = {
	.name		 = "tally",
	.version	 = {1, 0, 0},
	.module		 = THIS_MODULE,
	.ctr		 = tally_ctr,
	.dtr		 = tally_dtr,
	.map		 = tally_map,
	.status		 = tally_status,
	/* TODO 2: and give the core the message callback. */
	.iterate_devices = tally_iterate_devices,
};

static int __init dm_tally_init(void)
{
	return dm_register_target(&tally_target);
}

static void __exit dm_tally_exit(void)
{
	dm_unregister_target(&tally_target);
}

module_init(dm_tally_init);
module_exit(dm_tally_exit);

MODULE_DESCRIPTION(DM_NAME " tally: counts what passes, reset by message");
MODULE_LICENSE("GPL");
