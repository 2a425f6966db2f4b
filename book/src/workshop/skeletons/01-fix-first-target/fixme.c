// SPDX-License-Identifier: GPL-2.0
/*
 * fixme - a first passthrough target with five bugs to find.
 *
 * Every bio goes to one underlying device, shifted by a fixed offset:
 *   <start> <length> fixme <device> <start-sector>
 * It is stage 1's hello_target again, written with the kinds of bugs first
 * targets have. Each TODO marks one; the workshop's check says which one it
 * ran into first.
 */

#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/slab.h>
#include <linux/bio.h>
#include <linux/device-mapper.h>

#define DM_MSG_PREFIX "fixme"

struct fixme_c {
	struct dm_dev *dev;	/* where every bio goes */
	sector_t start;		/* where this line's first sector lands there */
};

/* ANCHOR: ctr */
static int fixme_ctr(struct dm_target *ti, unsigned int argc, char **argv)
{
	struct fixme_c *fc;
	unsigned long long start;
	int ret;

	if (argc != 2) {
		ti->error = "Invalid argument count";
		return -EINVAL;
	}

	/* TODO 2: a refused start sector must end the constructor. */
	if (kstrtoull(argv[1], 10, &start))
		ti->error = "Invalid device sector";

	fc = kzalloc(sizeof(*fc), GFP_KERNEL);
	if (!fc) {
		ti->error = "Cannot allocate context";
		return -ENOMEM;
	}
	fc->start = start;

	ret = dm_get_device(ti, argv[0], dm_table_get_mode(ti->table), &fc->dev);
	if (ret) {
		ti->error = "Device lookup failed";
		goto bad;
	}

	ti->num_flush_bios = 1;
	ti->num_discard_bios = 1;
	ti->private = fc;
	return 0;

bad:
	kfree(fc);
	/* TODO 3: tell the core the constructor failed, and why. */
	return 0;
}
/* ANCHOR_END: ctr */

static void fixme_dtr(struct dm_target *ti)
{
	struct fixme_c *fc = ti->private;

	dm_put_device(ti, fc->dev);
	kfree(fc);
}

/* ANCHOR: map */
static int fixme_map(struct dm_target *ti, struct bio *bio)
{
	struct fixme_c *fc = ti->private;

	bio_set_dev(bio, fc->dev->bdev);
	/* TODO 1: send the bio to this line's sector on the device. */

	/* TODO 4: let the core submit the remapped bio. */
	submit_bio_noacct(bio);
	return DM_MAPIO_SUBMITTED;
}
/* ANCHOR_END: map */

/* ANCHOR: iterate_devices */
/* TODO 5: tell the core which part of which device this line uses. */
/* ANCHOR_END: iterate_devices */

/* ANCHOR: target_type */
static struct target_type fixme_target = {
	.name		 = "fixme",
	.version	 = {1, 0, 0},
	.module		 = THIS_MODULE,
	.ctr		 = fixme_ctr,
	.dtr		 = fixme_dtr,
	.map		 = fixme_map,
	/* TODO 5: and register it. */
};
/* ANCHOR_END: target_type */

static int __init dm_fixme_init(void)
{
	return dm_register_target(&fixme_target);
}

static void __exit dm_fixme_exit(void)
{
	dm_unregister_target(&fixme_target);
}

module_init(dm_fixme_init);
module_exit(dm_fixme_exit);

MODULE_DESCRIPTION(DM_NAME " fixme: a first passthrough target, five bugs to fix");
MODULE_LICENSE("GPL");
