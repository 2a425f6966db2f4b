// SPDX-License-Identifier: GPL-2.0
/*
 * A learner's first passthrough target, with one classic bug chosen at build
 * time (-DBUG_<NAME>), or none. The lab must fail every buggy build with the
 * kernel's complaint named, and pass the correct one: see cases.toml.
 *
 * Table: <start> <length> learner <device> <offset>
 */
#include <linux/bio.h>
#include <linux/device-mapper.h>
#include <linux/module.h>
#include <linux/slab.h>
#ifdef BUG_SLEEPS_UNDER_SPINLOCK
#include <linux/delay.h>
#include <linux/spinlock.h>
#endif

#define DM_MSG_PREFIX "learner"

struct learner_c {
	struct dm_dev *dev;
	sector_t offset;
};

#ifdef BUG_SLEEPS_UNDER_SPINLOCK
static DEFINE_SPINLOCK(learner_lock);
#endif

static int learner_ctr(struct dm_target *ti, unsigned int argc, char **argv)
{
	struct learner_c *lc;
	unsigned long long offset;
	char dummy;
	int ret;

	if (argc != 2) {
		ti->error = "Invalid argument count";
		return -EINVAL;
	}
	lc = kzalloc(sizeof(*lc), GFP_KERNEL);
	if (!lc) {
		ti->error = "Cannot allocate context";
		return -ENOMEM;
	}
	ret = -EINVAL;
	if (sscanf(argv[1], "%llu%c", &offset, &dummy) != 1) {
		ti->error = "Invalid device sector";
		goto bad;
	}
	lc->offset = offset;
	ret = dm_get_device(ti, argv[0], dm_table_get_mode(ti->table), &lc->dev);
	if (ret) {
		ti->error = "Device lookup failed";
		goto bad;
	}
#ifdef BUG_CTR_SUCCEEDS_WITHOUT_CONTEXT
	/* The bug: the context is given up, but ctr still reports success. */
	dm_put_device(ti, lc->dev);
	kfree(lc);
	return 0;
#endif
	ti->num_flush_bios = 1;
	ti->private = lc;
	return 0;
bad:
	kfree(lc);
	return ret;
}

static void learner_dtr(struct dm_target *ti)
{
	struct learner_c *lc = ti->private;

#ifndef BUG_NO_PUT_DEVICE
	dm_put_device(ti, lc->dev);
#endif
	kfree(lc);
}

static int learner_map(struct dm_target *ti, struct bio *bio)
{
	struct learner_c *lc = ti->private;

#ifdef BUG_MAP_RETURNS_ERRNO
	if (bio_sectors(bio))
		return -EIO;
#endif
#ifdef BUG_BIO_NEVER_ENDED
	if (bio_op(bio) == REQ_OP_WRITE && bio_sectors(bio))
		return DM_MAPIO_SUBMITTED;
#endif
#ifdef BUG_SLEEPS_UNDER_SPINLOCK
	spin_lock(&learner_lock);
	msleep(1);
	spin_unlock(&learner_lock);
#endif
	bio_set_dev(bio, lc->dev->bdev);
	if (bio_sectors(bio))
		bio->bi_iter.bi_sector = lc->offset +
			dm_target_offset(ti, bio->bi_iter.bi_sector);
#ifdef BUG_REMAPS_PAST_THE_END
	/* The bug: the offset is counted twice. */
	if (bio_sectors(bio))
		bio->bi_iter.bi_sector += ti->len;
#endif
	return DM_MAPIO_REMAPPED;
}

static int learner_iterate_devices(struct dm_target *ti, iterate_devices_callout_fn fn, void *data)
{
	struct learner_c *lc = ti->private;

	return fn(ti, lc->dev, lc->offset, ti->len, data);
}

static struct target_type learner_target = {
	.name = "learner",
	.version = {1, 0, 0},
	.module = THIS_MODULE,
	.ctr = learner_ctr,
	.dtr = learner_dtr,
	.map = learner_map,
	.iterate_devices = learner_iterate_devices,
};

static int __init learner_init(void)
{
	return dm_register_target(&learner_target);
}

static void __exit learner_exit(void)
{
	dm_unregister_target(&learner_target);
}

module_init(learner_init);
module_exit(learner_exit);

MODULE_DESCRIPTION("A passthrough target with one classic bug, for testing the lab");
MODULE_LICENSE("GPL");
