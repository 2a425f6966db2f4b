// SPDX-License-Identifier: GPL-2.0
/*
 * tally - a passthrough that counts what passes, and says so in status.
 *
 *   <start> <length> tally <device> <start-sector>
 * `dmsetup status` prints
 *   reads=R read_sectors=RS writes=W write_sectors=WS
 * and `dmsetup table` the two arguments that would build the line again.
 */

#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/slab.h>
#include <linux/bio.h>
#include <linux/atomic.h>
#include <linux/device-mapper.h>

#include "dmw_compat.h"

#define DM_MSG_PREFIX "tally"

/* ANCHOR: context */
struct tally_c {
	struct dm_dev *dev;
	sector_t start;
	/* TODO 1: counters that map can add to on any CPU at once, without a
	 * lock: reads and their sectors, writes with data and their sectors.
	 */
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

	/* TODO 2: count the bio: a read, or a write that carries data (an
	 * empty flush is a write without sectors: not a write to count).
	 */

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
		/* TODO 3: print the counters as key=value words. */
		result[0] = '\0';
		break;

	case STATUSTYPE_TABLE:
		/* TODO 4: the arguments that build this line again. */
		DMEMIT("%s", tc->dev->name);
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

MODULE_DESCRIPTION(DM_NAME " tally: a passthrough that counts what passes");
MODULE_LICENSE("GPL");
