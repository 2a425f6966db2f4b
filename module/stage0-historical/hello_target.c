// SPDX-License-Identifier: GPL-2.0
/*
 * hello_target, as it would have been written for Linux 2.6.32-2.6.33.
 *
 * This is the workbook's historical stage: the same passthrough as stage 1,
 * written against the device-mapper API of the 2.6.3x kernels (the API the
 * original hello_target was written for). It is kept to FAIL: the kernel
 * matrix builds it against every modern kernel line and records the
 * compiler's errors, which chapter 4 explains one by one. Do not fix it here;
 * stage1-hello is the fixed version.
 */

#include <linux/module.h>
#include <linux/init.h>
#include <linux/slab.h>
#include <linux/bio.h>
#include <linux/device-mapper.h>

#define DM_MSG_PREFIX "hello_target"

/* ANCHOR: context */
struct hello_c {
	struct dm_dev *dev;
	sector_t start;
};
/* ANCHOR_END: context */

/* ANCHOR: ctr */
static int hello_ctr(struct dm_target *ti, unsigned int argc, char **argv)
{
	struct hello_c *hc;
	unsigned long long start;

	if (argc != 2) {
		ti->error = "Invalid argument count";
		return -EINVAL;
	}

	if (sscanf(argv[1], "%llu", &start) != 1) {
		ti->error = "Invalid device sector";
		return -EINVAL;
	}

	hc = kmalloc(sizeof(*hc), GFP_KERNEL);
	if (!hc) {
		ti->error = "Cannot allocate context";
		return -ENOMEM;
	}
	hc->start = start;

	/* 2.6.3x: the device range to check is passed in. */
	if (dm_get_device(ti, argv[0], hc->start, ti->len,
			  dm_table_get_mode(ti->table), &hc->dev)) {
		ti->error = "Device lookup failed";
		kfree(hc);
		return -EINVAL;
	}

	/* One empty flush bio per barrier, sent on to our device. */
	ti->num_flush_requests = 1;
	ti->private = hc;
	return 0;
}
/* ANCHOR_END: ctr */

static void hello_dtr(struct dm_target *ti)
{
	struct hello_c *hc = ti->private;

	dm_put_device(ti, hc->dev);
	kfree(hc);
}

/* ANCHOR: map */
static int hello_map(struct dm_target *ti, struct bio *bio,
		     union map_info *map_context)
{
	struct hello_c *hc = ti->private;

	bio->bi_bdev = hc->dev->bdev;
	bio->bi_sector = hc->start + (bio->bi_sector - ti->begin);

	return DM_MAPIO_REMAPPED;
}
/* ANCHOR_END: map */

/* ANCHOR: end_io */
static int hello_end_io(struct dm_target *ti, struct bio *bio,
			int error, union map_info *map_context)
{
	if (error)
		DMWARN("I/O error %d at sector %llu", error,
		       (unsigned long long)bio->bi_sector);

	return error;
}
/* ANCHOR_END: end_io */

/* ANCHOR: status */
static int hello_status(struct dm_target *ti, status_type_t type,
			char *result, unsigned int maxlen)
{
	struct hello_c *hc = ti->private;

	switch (type) {
	case STATUSTYPE_INFO:
		result[0] = '\0';
		break;

	case STATUSTYPE_TABLE:
		snprintf(result, maxlen, "%s %llu", hc->dev->name,
			 (unsigned long long)hc->start);
		break;
	}
	return 0;
}
/* ANCHOR_END: status */

/* ANCHOR: message */
static int hello_message(struct dm_target *ti, unsigned int argc, char **argv)
{
	if (argc == 1 && !strcmp(argv[0], "ping")) {
		DMINFO("pong");
		return 0;
	}
	DMWARN("unrecognised message");
	return -EINVAL;
}
/* ANCHOR_END: message */

static struct target_type hello_target = {
	.name	 = "hello_target",
	.version = {1, 0, 0},
	.module	 = THIS_MODULE,
	.ctr	 = hello_ctr,
	.dtr	 = hello_dtr,
	.map	 = hello_map,
	.end_io	 = hello_end_io,
	.status	 = hello_status,
	.message = hello_message,
};

/* ANCHOR: init_exit */
static int __init dm_hello_init(void)
{
	int r = dm_register_target(&hello_target);

	if (r < 0)
		DMERR("register failed %d", r);
	return r;
}

static void __exit dm_hello_exit(void)
{
	dm_unregister_target(&hello_target);
}
/* ANCHOR_END: init_exit */

module_init(dm_hello_init);
module_exit(dm_hello_exit);

MODULE_DESCRIPTION(DM_NAME " hello_target, written for the 2.6.3x API");
MODULE_LICENSE("GPL");
