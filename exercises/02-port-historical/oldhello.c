// SPDX-License-Identifier: GPL-2.0
/*
 * oldhello - a passthrough target written for Linux 2.6.32, to port.
 *
 * The same target as stage 0 (module/stage0-historical): every bio goes to
 * one device at an offset, end_io logs errors, status prints the table and
 * one message, `ping`, answers in the log.
 *   <start> <length> oldhello <device> <start-sector>
 * Each TODO is one change of the device-mapper API since 2.6.32; the drift
 * doctor (`cargo run --bin chapter4 -- doctor FILE --kernel 6.1`) names them.
 */

#include <linux/module.h>
#include <linux/init.h>
#include <linux/slab.h>
#include <linux/bio.h>
#include <linux/device-mapper.h>

#include "dmw_compat.h"

#define DM_MSG_PREFIX "oldhello"

struct oldhello_c {
	struct dm_dev *dev;
	sector_t start;
};

/* ANCHOR: ctr */
static int oldhello_ctr(struct dm_target *ti, unsigned int argc, char **argv)
{
	struct oldhello_c *hc;
	unsigned long long start;

	if (argc != 2) {
		ti->error = "Invalid argument count";
		return -EINVAL;
	}

	if (kstrtoull(argv[1], 10, &start)) {
		ti->error = "Invalid device sector";
		return -EINVAL;
	}

	hc = kmalloc(sizeof(*hc), GFP_KERNEL);
	if (!hc) {
		ti->error = "Cannot allocate context";
		return -ENOMEM;
	}
	hc->start = start;

	/* TODO 1: dm_get_device() takes the mode and the result only. */
	if (dm_get_device(ti, argv[0], dm_table_get_mode(ti->table), &hc->dev)) {
	//~ if (dm_get_device(ti, argv[0], hc->start, ti->len,
	//~ 		  dm_table_get_mode(ti->table), &hc->dev)) {
	/* END TODO 1 */
		ti->error = "Device lookup failed";
		kfree(hc);
		return -EINVAL;
	}

	/* TODO 2: flushes are counted in bios now. */
	ti->num_flush_bios = 1;
	//~ ti->num_flush_requests = 1;
	/* END TODO 2 */
	ti->private = hc;
	return 0;
}
/* ANCHOR_END: ctr */

static void oldhello_dtr(struct dm_target *ti)
{
	struct oldhello_c *hc = ti->private;

	dm_put_device(ti, hc->dev);
	kfree(hc);
}

/* ANCHOR: map */
/* TODO 3: map takes the target and the bio only. */
static int oldhello_map(struct dm_target *ti, struct bio *bio)
//~ static int oldhello_map(struct dm_target *ti, struct bio *bio,
//~ 			union map_info *map_context)
/* END TODO 3 */
{
	struct oldhello_c *hc = ti->private;

	/* TODO 4: the device and the sector moved (bio_set_dev, bi_iter). */
	bio_set_dev(bio, hc->dev->bdev);
	if (bio_sectors(bio))
		bio->bi_iter.bi_sector = hc->start +
			dm_target_offset(ti, bio->bi_iter.bi_sector);
	//~ bio->bi_bdev = hc->dev->bdev;
	//~ bio->bi_sector = hc->start + (bio->bi_sector - ti->begin);
	/* END TODO 4 */

	return DM_MAPIO_REMAPPED;
}
/* ANCHOR_END: map */

/* ANCHOR: end_io */
/* TODO 5: end_io gets a pointer to the bio's status, and answers DM_ENDIO_*. */
static int oldhello_end_io(struct dm_target *ti, struct bio *bio,
			   blk_status_t *error)
{
	if (*error)
		DMWARN("I/O error %d at sector %llu",
		       blk_status_to_errno(*error),
		       (unsigned long long)bio->bi_iter.bi_sector);

	return DM_ENDIO_DONE;
}
//~ static int oldhello_end_io(struct dm_target *ti, struct bio *bio,
//~ 			   int error, union map_info *map_context)
//~ {
//~ 	if (error)
//~ 		DMWARN("I/O error %d at sector %llu", error,
//~ 		       (unsigned long long)bio->bi_sector);
//~
//~ 	return error;
//~ }
/* END TODO 5 */
/* ANCHOR_END: end_io */

/* ANCHOR: status */
/* TODO 6: status returns nothing, takes status_flags, and answers IMA. */
static void oldhello_status(struct dm_target *ti, status_type_t type,
			    unsigned int status_flags, char *result,
			    unsigned int maxlen)
{
	struct oldhello_c *hc = ti->private;
	size_t sz = 0;

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
//~ static int oldhello_status(struct dm_target *ti, status_type_t type,
//~ 			   char *result, unsigned int maxlen)
//~ {
//~ 	struct oldhello_c *hc = ti->private;
//~
//~ 	switch (type) {
//~ 	case STATUSTYPE_INFO:
//~ 		result[0] = '\0';
//~ 		break;
//~
//~ 	case STATUSTYPE_TABLE:
//~ 		snprintf(result, maxlen, "%s %llu", hc->dev->name,
//~ 			 (unsigned long long)hc->start);
//~ 		break;
//~ 	}
//~ 	return 0;
//~ }
/* END TODO 6 */
/* ANCHOR_END: status */

/* ANCHOR: message */
/* TODO 7: message can answer the caller: it gets a result buffer. */
static int oldhello_message(struct dm_target *ti, unsigned int argc,
			    char **argv, char *result, unsigned int maxlen)
//~ static int oldhello_message(struct dm_target *ti, unsigned int argc,
//~ 			    char **argv)
/* END TODO 7 */
{
	if (argc == 1 && !strcmp(argv[0], "ping")) {
		DMINFO("pong");
		return 0;
	}
	DMWARN("unrecognised message");
	return -EINVAL;
}
/* ANCHOR_END: message */

static int oldhello_iterate_devices(struct dm_target *ti,
				    iterate_devices_callout_fn fn, void *data)
{
	struct oldhello_c *hc = ti->private;

	return fn(ti, hc->dev, hc->start, ti->len, data);
}

static struct target_type oldhello_target = {
	.name	 = "oldhello",
	.version = {1, 0, 0},
	.module	 = THIS_MODULE,
	.ctr	 = oldhello_ctr,
	.dtr	 = oldhello_dtr,
	.map	 = oldhello_map,
	.end_io	 = oldhello_end_io,
	.status	 = oldhello_status,
	.message = oldhello_message,
	.iterate_devices = oldhello_iterate_devices,
};

static int __init dm_oldhello_init(void)
{
	return dm_register_target(&oldhello_target);
}

static void __exit dm_oldhello_exit(void)
{
	dm_unregister_target(&oldhello_target);
}

module_init(dm_oldhello_init);
module_exit(dm_oldhello_exit);

MODULE_DESCRIPTION(DM_NAME " oldhello: a 2.6.32 target, ported");
MODULE_LICENSE("GPL");
