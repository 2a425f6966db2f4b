// SPDX-License-Identifier: GPL-2.0
/*
 * conduit - a passthrough that passes cache flushes and discards too.
 *
 *   <start> <length> conduit <device> <start-sector>
 * Reads and writes already reach the device at the right place. A cache
 * flush (an fsync) and a discard (fstrim, blkdiscard) must reach it too,
 * and a discard must land on this line's sectors, not elsewhere.
 */

#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/slab.h>
#include <linux/bio.h>
#include <linux/device-mapper.h>

#define DM_MSG_PREFIX "conduit"

struct conduit_c {
	struct dm_dev *dev;
	sector_t start;
};

/* ANCHOR: ctr */
static int conduit_ctr(struct dm_target *ti, unsigned int argc, char **argv)
{
	struct conduit_c *cc;
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
	cc = kzalloc(sizeof(*cc), GFP_KERNEL);
	if (!cc) {
		ti->error = "Cannot allocate context";
		return -ENOMEM;
	}
	cc->start = start;
	ret = dm_get_device(ti, argv[0], dm_table_get_mode(ti->table), &cc->dev);
	if (ret) {
		ti->error = "Device lookup failed";
		kfree(cc);
		return ret;
	}

	/* TODO 1: ask the core for flushes: one empty flush per table line. */
	ti->num_flush_bios = 1;
	/* END TODO 1 */
	/* TODO 2: ask for discards too (and write-zeroes, which travel alike). */
	ti->num_discard_bios = 1;
	ti->num_write_zeroes_bios = 1;
	/* END TODO 2 */
	ti->private = cc;
	return 0;
}
/* ANCHOR_END: ctr */

static void conduit_dtr(struct dm_target *ti)
{
	struct conduit_c *cc = ti->private;

	dm_put_device(ti, cc->dev);
	kfree(cc);
}

/* ANCHOR: map */
static int conduit_map(struct dm_target *ti, struct bio *bio)
{
	struct conduit_c *cc = ti->private;

	bio_set_dev(bio, cc->dev->bdev);
	/* TODO 3: shift every bio that covers sectors; only an empty flush has none. */
	if (bio_sectors(bio))
	//~ if (bio_has_data(bio))
	/* END TODO 3 */
		bio->bi_iter.bi_sector = cc->start +
			dm_target_offset(ti, bio->bi_iter.bi_sector);
	return DM_MAPIO_REMAPPED;
}
/* ANCHOR_END: map */

static int conduit_iterate_devices(struct dm_target *ti,
				   iterate_devices_callout_fn fn, void *data)
{
	struct conduit_c *cc = ti->private;

	return fn(ti, cc->dev, cc->start, ti->len, data);
}

static struct target_type conduit_target = {
	.name		 = "conduit",
	.version	 = {1, 0, 0},
	.module		 = THIS_MODULE,
	.ctr		 = conduit_ctr,
	.dtr		 = conduit_dtr,
	.map		 = conduit_map,
	.iterate_devices = conduit_iterate_devices,
};

static int __init dm_conduit_init(void)
{
	return dm_register_target(&conduit_target);
}

static void __exit dm_conduit_exit(void)
{
	dm_unregister_target(&conduit_target);
}

module_init(dm_conduit_init);
module_exit(dm_conduit_exit);

MODULE_DESCRIPTION(DM_NAME " conduit: a passthrough for flushes and discards");
MODULE_LICENSE("GPL");
