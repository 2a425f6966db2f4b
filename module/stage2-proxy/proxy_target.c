// SPDX-License-Identifier: GPL-2.0
/*
 * proxy - stage 2 of the dm-workbook: a passthrough that counts what passes.
 *
 * Every bio goes to one underlying device, shifted by a fixed offset, as in
 * stage 1; on its way back the target counts it: reads, writes, the sectors
 * of each, empty flushes, other bios (discards, write-zeroes), errors and
 * how long the device below took. `dmsetup status` prints the counters,
 * `dmsetup message <dev> 0 reset` sets them to zero.
 *
 * Table line: <start> <length> proxy <device> <start-sector>
 *
 * The table arguments, their checks and their ti->error strings follow the
 * kernel's linear target (drivers/md/dm-linear.c), as stage 1 does. The
 * counting is this workbook's own, written for it: per-bio data
 * (ti->per_io_data_size, dm_per_bio_data) carries what map knew to end_io,
 * the way dm-delay and dm-crypt carry their per-bio state.
 *
 * The Rust twin in chapters-code/targets/proxy.rs makes the same checks in
 * the same order, fails with the same strings and prints the same status.
 */

#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/slab.h>
#include <linux/bio.h>
#include <linux/atomic.h>
#include <linux/ktime.h>
#include <linux/string.h>
#include <linux/device-mapper.h>

#include "dmw_compat.h"

#define DM_MSG_PREFIX "proxy"

/* ANCHOR: counters */
/*
 * What passed, since the table was loaded or the last `reset` message.
 *
 * No lock guards them: map and end_io run on any CPU, many at once, and
 * end_io may run in interrupt context, where a mutex cannot be taken and a
 * spinlock would have to disable interrupts around every bio. Each counter
 * is an atomic64_t instead: one add is one indivisible instruction, exact
 * on every CPU. The price is that all CPUs write the same cache lines; a
 * target that moves millions of bios a second would keep per-CPU counters
 * (percpu_counter) and add them up in status. A snapshot of several
 * counters is not taken at one instant either: status may see a bio's
 * read counted and its sectors not yet. Both are fine for a report.
 */
struct proxy_counters {
	atomic64_t reads;		/* REQ_OP_READ bios */
	atomic64_t read_sectors;
	atomic64_t writes;		/* REQ_OP_WRITE bios with data */
	atomic64_t write_sectors;
	atomic64_t flushes;		/* empty REQ_PREFLUSH writes */
	atomic64_t others;		/* discards, write-zeroes, secure erases */
	atomic64_t errors;		/* bios that ended with a bad status */
	atomic64_t latency_ns;		/* map to end_io, summed over all bios */
	atomic64_t max_latency_ns;	/* the longest of them */
};
/* ANCHOR_END: counters */

/* ANCHOR: context */
/* What the constructor builds for one table line. */
struct proxy_c {
	struct dm_dev *dev;	/* where every bio goes */
	sector_t start;		/* where this line's first sector lands there */
	struct proxy_counters count;
};

/*
 * Per-bio data: the core reserves ti->per_io_data_size bytes in front of
 * every clone it hands this target, and dm_per_bio_data() finds them. map
 * writes them, end_io reads them: no allocation, no lookup, no lock.
 */
struct proxy_io {
	u64 start_ns;		/* ktime_get_ns() when map saw the bio */
	unsigned int sectors;	/* bio_sectors() then: the device below
				 * advances bi_iter as it completes the bio,
				 * so end_io would read 0 */
};
/* ANCHOR_END: context */

static void proxy_reset(struct proxy_counters *c)
{
	atomic64_set(&c->reads, 0);
	atomic64_set(&c->read_sectors, 0);
	atomic64_set(&c->writes, 0);
	atomic64_set(&c->write_sectors, 0);
	atomic64_set(&c->flushes, 0);
	atomic64_set(&c->others, 0);
	atomic64_set(&c->errors, 0);
	atomic64_set(&c->latency_ns, 0);
	atomic64_set(&c->max_latency_ns, 0);
}

/* ANCHOR: ctr */
/*
 * The constructor gets the two words after the target name:
 *   argv[0]  <device>        a path such as /dev/loop0, or major:minor
 *   argv[1]  <start-sector>  a decimal sector number on that device
 */
static int proxy_ctr(struct dm_target *ti, unsigned int argc, char **argv)
{
	struct proxy_c *pc;
	unsigned long long tmp;
	int ret;

	if (argc != 2) {
		ti->error = "Invalid argument count";
		return -EINVAL;
	}

	if (kstrtoull(argv[1], 10, &tmp)) {
		ti->error = "Invalid device sector";
		return -EINVAL;
	}

	pc = kzalloc(sizeof(*pc), GFP_KERNEL);
	if (!pc) {
		ti->error = "Cannot allocate context";
		return -ENOMEM;
	}
	pc->start = tmp;
	proxy_reset(&pc->count);

	ret = dm_get_device(ti, argv[0], dm_table_get_mode(ti->table), &pc->dev);
	if (ret) {
		ti->error = "Device lookup failed";
		goto bad;
	}

	ti->num_flush_bios = 1;
	ti->num_discard_bios = 1;
	ti->num_secure_erase_bios = 1;
	ti->num_write_zeroes_bios = 1;
	/* Room for a struct proxy_io in front of every clone. */
	ti->per_io_data_size = sizeof(struct proxy_io);
	ti->private = pc;
	return 0;

bad:
	kfree(pc);
	return ret;
}
/* ANCHOR_END: ctr */

static void proxy_dtr(struct dm_target *ti)
{
	struct proxy_c *pc = ti->private;

	dm_put_device(ti, pc->dev);
	kfree(pc);
}

/* ANCHOR: map */
static int proxy_map(struct dm_target *ti, struct bio *bio)
{
	struct proxy_c *pc = ti->private;
	struct proxy_io *io = dm_per_bio_data(bio, sizeof(struct proxy_io));

	io->start_ns = ktime_get_ns();
	io->sectors = bio_sectors(bio);

	bio_set_dev(bio, pc->dev->bdev);
	/* An empty flush has no sectors: it only needs the right device. */
	if (bio_sectors(bio))
		bio->bi_iter.bi_sector = pc->start +
			dm_target_offset(ti, bio->bi_iter.bi_sector);

	return DM_MAPIO_REMAPPED;
}
/* ANCHOR_END: map */

/* ANCHOR: end_io */
/*
 * The core calls end_io for every clone map remapped, once the device below
 * has ended it, before the original bio can end. *error is the clone's
 * status; DM_ENDIO_DONE lets it stand.
 */
static int proxy_end_io(struct dm_target *ti, struct bio *bio,
			blk_status_t *error)
{
	struct proxy_c *pc = ti->private;
	struct proxy_counters *c = &pc->count;
	struct proxy_io *io = dm_per_bio_data(bio, sizeof(struct proxy_io));
	u64 took = ktime_get_ns() - io->start_ns;
	s64 max;

	switch (bio_op(bio)) {
	case REQ_OP_READ:
		atomic64_inc(&c->reads);
		atomic64_add(io->sectors, &c->read_sectors);
		break;
	case REQ_OP_WRITE:
		if (io->sectors) {
			atomic64_inc(&c->writes);
			atomic64_add(io->sectors, &c->write_sectors);
		} else {
			atomic64_inc(&c->flushes);
		}
		break;
	default:
		atomic64_inc(&c->others);
		break;
	}
	if (*error != BLK_STS_OK)
		atomic64_inc(&c->errors);

	atomic64_add(took, &c->latency_ns);
	/* A new maximum without a lock: retry if another CPU raised it first. */
	max = atomic64_read(&c->max_latency_ns);
	while ((s64)took > max) {
		s64 seen = atomic64_cmpxchg(&c->max_latency_ns, max, took);

		if (seen == max)
			break;
		max = seen;
	}

	return DM_ENDIO_DONE;
}
/* ANCHOR_END: end_io */

/* ANCHOR: status */
static void proxy_status(struct dm_target *ti, status_type_t type,
			 unsigned int status_flags, char *result,
			 unsigned int maxlen)
{
	struct proxy_c *pc = ti->private;
	struct proxy_counters *c = &pc->count;
	size_t sz = 0;	/* DMEMIT appends at result + sz */

	switch (type) {
	case STATUSTYPE_INFO:
		DMEMIT("reads=%lld read_sectors=%lld writes=%lld write_sectors=%lld",
		       (long long)atomic64_read(&c->reads),
		       (long long)atomic64_read(&c->read_sectors),
		       (long long)atomic64_read(&c->writes),
		       (long long)atomic64_read(&c->write_sectors));
		DMEMIT(" flushes=%lld others=%lld errors=%lld",
		       (long long)atomic64_read(&c->flushes),
		       (long long)atomic64_read(&c->others),
		       (long long)atomic64_read(&c->errors));
		DMEMIT(" latency_ns=%lld max_latency_ns=%lld",
		       (long long)atomic64_read(&c->latency_ns),
		       (long long)atomic64_read(&c->max_latency_ns));
		break;

	case STATUSTYPE_TABLE:
		DMEMIT("%s %llu", pc->dev->name, (unsigned long long)pc->start);
		break;

#if DMW_HAVE_STATUSTYPE_IMA
	case STATUSTYPE_IMA:
		DMEMIT("target_name=%s,target_version=%u.%u.%u",
		       ti->type->name, ti->type->version[0],
		       ti->type->version[1], ti->type->version[2]);
		DMEMIT(",device_name=%s,start=%llu;", pc->dev->name,
		       (unsigned long long)pc->start);
		break;
#endif
	}
}
/* ANCHOR_END: status */

/* ANCHOR: message */
/*
 * `dmsetup message <device> <sector> <words...>`: the one message is
 * `reset`. A refusal names its reason in the kernel log and returns
 * -EINVAL, which dmsetup reports; the caller sees no other text.
 */
static int proxy_message(struct dm_target *ti, unsigned int argc, char **argv,
			 char *result, unsigned int maxlen)
{
	struct proxy_c *pc = ti->private;

	if (strcasecmp(argv[0], "reset")) {
		DMWARN("Unrecognised message received: %s", argv[0]);
		return -EINVAL;
	}
	if (argc != 1) {
		DMWARN("Invalid argument count for message: reset takes none");
		return -EINVAL;
	}
	proxy_reset(&pc->count);
	return 0;
}
/* ANCHOR_END: message */

static int proxy_iterate_devices(struct dm_target *ti,
				 iterate_devices_callout_fn fn, void *data)
{
	struct proxy_c *pc = ti->private;

	return fn(ti, pc->dev, pc->start, ti->len, data);
}

/* ANCHOR: target_type */
static struct target_type proxy_target = {
	.name		 = "proxy",
	.version	 = {1, 0, 0},
	.module		 = THIS_MODULE,
	.ctr		 = proxy_ctr,
	.dtr		 = proxy_dtr,
	.map		 = proxy_map,
	.end_io		 = proxy_end_io,
	.status		 = proxy_status,
	.message	 = proxy_message,
	.iterate_devices = proxy_iterate_devices,
};
/* ANCHOR_END: target_type */

static int __init dm_proxy_init(void)
{
	return dm_register_target(&proxy_target);
}

static void __exit dm_proxy_exit(void)
{
	dm_unregister_target(&proxy_target);
}

module_init(dm_proxy_init);
module_exit(dm_proxy_exit);

MODULE_DESCRIPTION(DM_NAME " proxy: a passthrough that counts what passes");
MODULE_LICENSE("GPL");
