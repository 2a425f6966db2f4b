// SPDX-License-Identifier: GPL-2.0
/*
 * tally - a passthrough that counts bios as they end, and times them.
 *
 *   <start> <length> tally <device> <start-sector>
 * `dmsetup status` prints
 *   reads=R writes=W errors=E latency_ns=T max_latency_ns=M
 * counted in end_io, once the device below has ended each bio: E bios ended
 * with an error; T is the time from map to end_io summed over all bios, M
 * the longest.
 */

#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/slab.h>
#include <linux/bio.h>
#include <linux/atomic.h>
#include <linux/ktime.h>
#include <linux/device-mapper.h>

#include "dmw_compat.h"

#define DM_MSG_PREFIX "tally"

/* ANCHOR: context */
struct tally_c {
	struct dm_dev *dev;
	sector_t start;
	atomic64_t reads;
	atomic64_t writes;		/* writes with data */
	atomic64_t errors;		/* bios that ended with a bad status */
	atomic64_t latency_ns;		/* map to end_io, summed */
	atomic64_t max_latency_ns;
};

/* What map leaves in front of each clone for end_io to read. */
struct tally_io {
	u64 start_ns;		/* when map saw the bio */
	unsigned int sectors;	/* its size then: by end_io, the device below
				 * has advanced bi_iter to the end */
};
/* ANCHOR_END: context */

/* ANCHOR: ctr */
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
	/* TODO 1: ask the core for room in front of every clone. */
	ti->per_io_data_size = sizeof(struct tally_io);
	/* END TODO 1 */
	ti->private = tc;
	return 0;
}
/* ANCHOR_END: ctr */

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

	/* TODO 2: note when map saw the bio, in the clone's per-bio data. */
	struct tally_io *io = dm_per_bio_data(bio, sizeof(struct tally_io));

	io->start_ns = ktime_get_ns();
	io->sectors = bio_sectors(bio);
	/* END TODO 2 */

	bio_set_dev(bio, tc->dev->bdev);
	if (bio_sectors(bio))
		bio->bi_iter.bi_sector = tc->start +
			dm_target_offset(ti, bio->bi_iter.bi_sector);
	return DM_MAPIO_REMAPPED;
}
/* ANCHOR_END: map */

/* ANCHOR: end_io */
/* TODO 3: count the bio as it ends: a read, a write with data, an error
 * (*error is not BLK_STS_OK); add how long it took, and keep the longest.
 * end_io may run in interrupt context: no lock that sleeps, no allocation.
 * The bio's own size is gone by now: read what map noted.
 */
static int tally_end_io(struct dm_target *ti, struct bio *bio,
			blk_status_t *error)
{
	struct tally_c *tc = ti->private;
	struct tally_io *io = dm_per_bio_data(bio, sizeof(struct tally_io));
	s64 took = ktime_get_ns() - io->start_ns;
	s64 max;

	if (bio_op(bio) == REQ_OP_READ)
		atomic64_inc(&tc->reads);
	else if (bio_op(bio) == REQ_OP_WRITE && io->sectors)
		atomic64_inc(&tc->writes);
	if (*error != BLK_STS_OK)
		atomic64_inc(&tc->errors);

	atomic64_add(took, &tc->latency_ns);
	/* A new longest time without a lock: retry if another CPU won. */
	max = atomic64_read(&tc->max_latency_ns);
	while (took > max) {
		s64 seen = atomic64_cmpxchg(&tc->max_latency_ns, max, took);

		if (seen == max)
			break;
		max = seen;
	}
	return DM_ENDIO_DONE;
}
/* END TODO 3 */
/* ANCHOR_END: end_io */

static void tally_status(struct dm_target *ti, status_type_t type,
			 unsigned int status_flags, char *result,
			 unsigned int maxlen)
{
	struct tally_c *tc = ti->private;
	size_t sz = 0;

	switch (type) {
	case STATUSTYPE_INFO:
		DMEMIT("reads=%lld writes=%lld errors=%lld latency_ns=%lld max_latency_ns=%lld",
		       (long long)atomic64_read(&tc->reads),
		       (long long)atomic64_read(&tc->writes),
		       (long long)atomic64_read(&tc->errors),
		       (long long)atomic64_read(&tc->latency_ns),
		       (long long)atomic64_read(&tc->max_latency_ns));
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

static int tally_iterate_devices(struct dm_target *ti,
				 iterate_devices_callout_fn fn, void *data)
{
	struct tally_c *tc = ti->private;

	return fn(ti, tc->dev, tc->start, ti->len, data);
}

static struct target_type tally_target = {
	.name		 = "tally",
	.version	 = {1, 1, 0},
	.module		 = THIS_MODULE,
	.ctr		 = tally_ctr,
	.dtr		 = tally_dtr,
	.map		 = tally_map,
	/* TODO 4: and give the core the end_io callback. */
	.end_io		 = tally_end_io,
	/* END TODO 4 */
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

MODULE_DESCRIPTION(DM_NAME " tally: counts and times bios as they end");
MODULE_LICENSE("GPL");
