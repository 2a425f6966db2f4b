// SPDX-License-Identifier: GPL-2.0
/*
 * hello_target - stage 1 of the dm-workbook: a passthrough target.
 *
 * Every bio goes to one underlying device, shifted by a fixed offset.
 * Table line: <start> <length> hello_target <device> <start-sector>
 *
 * Modelled on the kernel's linear target, drivers/md/dm-linear.c: the same
 * two arguments, and its three checks (argument count, start sector,
 * device) in its order, with its ti->error strings. Like linear, it asks the
 * core for flushes, discards, secure erases and write-zeroes (one bio of each
 * per table line), so that a cache flush reaches the device underneath.
 *
 * The Rust twin in chapters-code/targets/hello.rs makes the same checks in
 * the same order and fails with the same ti->error strings.
 */

#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/slab.h>
#include <linux/bio.h>
#include <linux/device-mapper.h>

#include "dmw_compat.h"

#define DM_MSG_PREFIX "hello_target"

/* ANCHOR: context */
/* What the constructor builds for one table line. */
struct hello_c {
	struct dm_dev *dev;	/* where every bio goes */
	sector_t start;		/* where this line's first sector lands there */
};
/* ANCHOR_END: context */

/* ANCHOR: ctr */
/*
 * The constructor gets the two words after the target name:
 *   argv[0]  <device>        a path such as /dev/loop0, or major:minor
 *   argv[1]  <start-sector>  a decimal sector number on that device
 */
static int hello_ctr(struct dm_target *ti, unsigned int argc, char **argv)
{
	struct hello_c *hc;
	unsigned long long tmp;
	int ret;

	if (argc != 2) {
		ti->error = "Invalid argument count";
		return -EINVAL;
	}

	/* kstrtoull refuses junk, a '-' sign and overflow. */
	if (kstrtoull(argv[1], 10, &tmp)) {
		ti->error = "Invalid device sector";
		return -EINVAL;
	}

	hc = kzalloc(sizeof(*hc), GFP_KERNEL);
	if (!hc) {
		ti->error = "Cannot allocate context";
		return -ENOMEM;
	}
	hc->start = tmp;

	ret = dm_get_device(ti, argv[0], dm_table_get_mode(ti->table), &hc->dev);
	if (ret) {
		ti->error = "Device lookup failed";
		goto bad;
	}

	/*
	 * Without these the core sends this line none of them: a table with no
	 * line asking for flushes is reported as "write through", and the
	 * block layer drops every PREFLUSH and FUA on its way in.
	 */
	ti->num_flush_bios = 1;
	ti->num_discard_bios = 1;
	ti->num_secure_erase_bios = 1;
	ti->num_write_zeroes_bios = 1;
	ti->private = hc;
	return 0;

bad:
	kfree(hc);
	return ret;
}
/* ANCHOR_END: ctr */

/* ANCHOR: dtr */
static void hello_dtr(struct dm_target *ti)
{
	struct hello_c *hc = ti->private;

	dm_put_device(ti, hc->dev);
	kfree(hc);
}
/* ANCHOR_END: dtr */

/* ANCHOR: map */
static int hello_map(struct dm_target *ti, struct bio *bio)
{
	struct hello_c *hc = ti->private;

	bio_set_dev(bio, hc->dev->bdev);
	/* An empty flush has no sectors: it only needs the right device. */
	if (bio_sectors(bio))
		bio->bi_iter.bi_sector = hc->start +
			dm_target_offset(ti, bio->bi_iter.bi_sector);

	return DM_MAPIO_REMAPPED;
}
/* ANCHOR_END: map */

/* ANCHOR: status */
static void hello_status(struct dm_target *ti, status_type_t type,
			 unsigned int status_flags, char *result,
			 unsigned int maxlen)
{
	struct hello_c *hc = ti->private;
	size_t sz = 0;	/* DMEMIT appends at result + sz */

	switch (type) {
	case STATUSTYPE_INFO:
		result[0] = '\0';
		break;

	case STATUSTYPE_TABLE:
		DMEMIT("%s %llu", hc->dev->name, (unsigned long long)hc->start);
		break;

#if DMW_HAVE_STATUSTYPE_IMA
	case STATUSTYPE_IMA:
		DMEMIT("target_name=%s,target_version=%u.%u.%u",
		       ti->type->name, ti->type->version[0],
		       ti->type->version[1], ti->type->version[2]);
		DMEMIT(",device_name=%s,start=%llu;", hc->dev->name,
		       (unsigned long long)hc->start);
		break;
#endif
	}
}
/* ANCHOR_END: status */

/* ANCHOR: iterate_devices */
/*
 * Tell the core which part of which device this line uses: it refuses a
 * table whose start plus length reaches past the end of the device.
 */
static int hello_iterate_devices(struct dm_target *ti,
				 iterate_devices_callout_fn fn, void *data)
{
	struct hello_c *hc = ti->private;

	return fn(ti, hc->dev, hc->start, ti->len, data);
}
/* ANCHOR_END: iterate_devices */

/* ANCHOR: target_type */
static struct target_type hello_target = {
	.name		 = "hello_target",
	.version	 = {1, 0, 0},
	.module		 = THIS_MODULE,
	.ctr		 = hello_ctr,
	.dtr		 = hello_dtr,
	.map		 = hello_map,
	.status		 = hello_status,
	.iterate_devices = hello_iterate_devices,
};
/* ANCHOR_END: target_type */

/* ANCHOR: init_exit */
static int __init dm_hello_init(void)
{
	return dm_register_target(&hello_target);
}

static void __exit dm_hello_exit(void)
{
	dm_unregister_target(&hello_target);
}

module_init(dm_hello_init);
module_exit(dm_hello_exit);

MODULE_DESCRIPTION(DM_NAME " hello_target: a passthrough to one device at an offset");
MODULE_LICENSE("GPL");
/* ANCHOR_END: init_exit */
