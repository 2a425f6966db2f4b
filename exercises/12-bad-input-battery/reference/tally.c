// SPDX-License-Identifier: GPL-2.0
/*
 * tally - the reference target of exercise 12 (exercise 06's solution),
 * and its mutants: built with -DMUTANT_<NAME>, it has that one bug.
 *
 *   <start> <length> tally <device> <start-sector>
 * Status: reads=R read_sectors=RS writes=W write_sectors=WS
 * Message: reset
 */

#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/slab.h>
#include <linux/bio.h>
#include <linux/atomic.h>
#include <linux/string.h>
#include <linux/device-mapper.h>

#define DM_MSG_PREFIX "tally"

struct tally_c {
	struct dm_dev *dev;
	sector_t start;
	atomic64_t reads;
	atomic64_t read_sectors;
	atomic64_t writes;
	atomic64_t write_sectors;
};

static int tally_ctr(struct dm_target *ti, unsigned int argc, char **argv)
{
	struct tally_c *tc;
	unsigned long long start;
	int ret;

#ifdef MUTANT_EXTRA_WORDS
	if (argc < 2) {
#else
	if (argc != 2) {
#endif
		ti->error = "Invalid argument count";
		return -EINVAL;
	}
#ifdef MUTANT_JUNK_SECTOR
	if (sscanf(argv[1], "%llu", &start) != 1) {
#else
	if (kstrtoull(argv[1], 10, &start)) {
#endif
		ti->error = "Invalid device sector";
		return -EINVAL;
	}
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
	ti->private = tc;
	return 0;
}

static void tally_dtr(struct dm_target *ti)
{
	struct tally_c *tc = ti->private;

	dm_put_device(ti, tc->dev);
	kfree(tc);
}

static int tally_map(struct dm_target *ti, struct bio *bio)
{
	struct tally_c *tc = ti->private;

	if (bio_op(bio) == REQ_OP_READ) {
		atomic64_inc(&tc->reads);
		atomic64_add(bio_sectors(bio), &tc->read_sectors);
#ifdef MUTANT_COUNTS_FLUSHES
	} else if (bio_op(bio) == REQ_OP_WRITE) {
#else
	} else if (bio_op(bio) == REQ_OP_WRITE && bio_sectors(bio)) {
#endif
		atomic64_inc(&tc->writes);
		atomic64_add(bio_sectors(bio), &tc->write_sectors);
	}
	bio_set_dev(bio, tc->dev->bdev);
	if (bio_sectors(bio))
		bio->bi_iter.bi_sector = tc->start +
			dm_target_offset(ti, bio->bi_iter.bi_sector);
	return DM_MAPIO_REMAPPED;
}

static void tally_status(struct dm_target *ti, status_type_t type,
			 unsigned int status_flags, char *result,
			 unsigned int maxlen)
{
	struct tally_c *tc = ti->private;
	size_t sz = 0;

	if (type == STATUSTYPE_INFO)
		DMEMIT("reads=%lld read_sectors=%lld writes=%lld write_sectors=%lld",
		       (long long)atomic64_read(&tc->reads),
		       (long long)atomic64_read(&tc->read_sectors),
		       (long long)atomic64_read(&tc->writes),
		       (long long)atomic64_read(&tc->write_sectors));
	else if (type == STATUSTYPE_TABLE)
		DMEMIT("%s %llu", tc->dev->name, (unsigned long long)tc->start);
	else
		result[0] = '\0';
}

static int tally_message(struct dm_target *ti, unsigned int argc, char **argv,
			 char *result, unsigned int maxlen)
{
	struct tally_c *tc = ti->private;

	if (strcasecmp(argv[0], "reset")) {
		DMWARN("Unrecognised message received: %s", argv[0]);
		return -EINVAL;
	}
#ifndef MUTANT_RESET_TAKES_WORDS
	if (argc != 1) {
		DMWARN("Invalid argument count for message: reset takes none");
		return -EINVAL;
	}
#endif
	atomic64_set(&tc->reads, 0);
	atomic64_set(&tc->read_sectors, 0);
	atomic64_set(&tc->writes, 0);
	atomic64_set(&tc->write_sectors, 0);
	return 0;
}

#ifndef MUTANT_NO_ITERATE_DEVICES
static int tally_iterate_devices(struct dm_target *ti,
				 iterate_devices_callout_fn fn, void *data)
{
	struct tally_c *tc = ti->private;

	return fn(ti, tc->dev, tc->start, ti->len, data);
}
#endif

static struct target_type tally_target = {
	.name		 = "tally",
	.version	 = {1, 0, 0},
	.module		 = THIS_MODULE,
	.ctr		 = tally_ctr,
	.dtr		 = tally_dtr,
	.map		 = tally_map,
	.status		 = tally_status,
	.message	 = tally_message,
#ifndef MUTANT_NO_ITERATE_DEVICES
	.iterate_devices = tally_iterate_devices,
#endif
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

MODULE_DESCRIPTION(DM_NAME " tally: the reference for exercise 12 and its mutants");
MODULE_LICENSE("GPL");
