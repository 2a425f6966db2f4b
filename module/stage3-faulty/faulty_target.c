// SPDX-License-Identifier: GPL-2.0
/*
 * faulty - stage 3 of the dm-workbook: failure on purpose.
 *
 * A passthrough, like stage 1, over which some sectors can be declared bad.
 * A read that touches a bad sector is done, and then failed; a write that
 * touches one fails at once, or, in `drop` mode, is reported done without
 * being written. The bad sectors and the mode are set by optional feature
 * arguments in the table line and changed at run time by messages, so a
 * file system can be watched meeting a failing disk.
 *
 * Table line:
 *   <start> <length> faulty <device> <start-sector> [<#features> <feature>...]
 * Features:
 *   drop_writes     start in `drop` mode
 *   pass            start in `pass` mode: bad sectors are kept, nothing fails
 *   bad <sector>    sector <sector> of this line is bad (may repeat)
 * Messages (`dmsetup message <device> 0 <words>`):
 *   addbad <sector>, removebad <sector>, clearbad, listbad,
 *   mode <fail|drop|pass>
 *
 * The idea of failing reads after they are done and of dropping writes comes
 * from the kernel's dm-flakey (drivers/md/dm-flakey.c); a list of bad
 * sectors managed by messages from dm-dust (drivers/md/dm-dust.c). The code
 * is this workbook's own. The table arguments before the features, their
 * checks and their ti->error strings follow dm-linear.c, as stage 1 does.
 */

#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/slab.h>
#include <linux/bio.h>
#include <linux/atomic.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/device-mapper.h>

#include "dmw_compat.h"

#define DM_MSG_PREFIX "faulty"

/* Room for this many bad sectors: a teaching target needs few. */
#define FAULTY_MAX_BAD 32

/* ANCHOR: mode */
/* What happens to a bio that touches a bad sector. */
enum faulty_mode {
	FAULTY_FAIL,	/* reads and writes fail with an I/O error */
	FAULTY_DROP,	/* reads fail; writes end well and are not written */
	FAULTY_PASS,	/* nothing fails: the bad sectors are only kept */
};
/* ANCHOR_END: mode */

static const char *const mode_names[] = {
	[FAULTY_FAIL] = "fail",
	[FAULTY_DROP] = "drop",
	[FAULTY_PASS] = "pass",
};

/* What the constructor builds for one table line. */
struct faulty_c {
	struct dm_dev *dev;	/* where every bio goes */
	sector_t start;		/* where this line's first sector lands there */
	enum faulty_mode mode;	/* read in map without the lock: READ_ONCE */

	/*
	 * The bad sectors, counted from the line's start, sorted. map reads
	 * them and messages change them, on any CPU: the spinlock keeps map
	 * from seeing half a change. Neither side sleeps while holding it.
	 */
	spinlock_t lock;
	sector_t bad[FAULTY_MAX_BAD];
	unsigned int nr_bad;

	atomic64_t read_errors;		/* reads failed in end_io */
	atomic64_t write_errors;	/* writes failed in map */
	atomic64_t dropped_writes;	/* writes ended without being written */
};

/* Per-bio data: whether map found the bio on a bad sector. */
struct faulty_io {
	bool bad;
};

/* The index of the first bad sector at or after `sector`. */
static unsigned int first_bad_from(struct faulty_c *fc, sector_t sector)
{
	unsigned int lo = 0, hi = fc->nr_bad;

	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;

		if (fc->bad[mid] < sector)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Whether sectors [first, first + len) of the line hold a bad one. */
static bool touches_bad(struct faulty_c *fc, sector_t first, unsigned int len)
{
	unsigned int i;
	bool bad;

	spin_lock(&fc->lock);
	i = first_bad_from(fc, first);
	bad = i < fc->nr_bad && fc->bad[i] < first + len;
	spin_unlock(&fc->lock);
	return bad;
}

/* Add `sector` to the list; 0, or -ENOSPC when the list is full. */
static int add_bad(struct faulty_c *fc, sector_t sector)
{
	unsigned int i;
	int ret = 0;

	spin_lock(&fc->lock);
	i = first_bad_from(fc, sector);
	if (i < fc->nr_bad && fc->bad[i] == sector)
		goto out;	/* already bad: nothing to do */
	if (fc->nr_bad == FAULTY_MAX_BAD) {
		ret = -ENOSPC;
		goto out;
	}
	memmove(&fc->bad[i + 1], &fc->bad[i], (fc->nr_bad - i) * sizeof(sector_t));
	fc->bad[i] = sector;
	fc->nr_bad++;
out:
	spin_unlock(&fc->lock);
	return ret;
}

/* Remove `sector` from the list; 0, or -ENOENT when it was not there. */
static int remove_bad(struct faulty_c *fc, sector_t sector)
{
	unsigned int i;
	int ret = -ENOENT;

	spin_lock(&fc->lock);
	i = first_bad_from(fc, sector);
	if (i < fc->nr_bad && fc->bad[i] == sector) {
		memmove(&fc->bad[i], &fc->bad[i + 1],
			(fc->nr_bad - i - 1) * sizeof(sector_t));
		fc->nr_bad--;
		ret = 0;
	}
	spin_unlock(&fc->lock);
	return ret;
}

/* A sector of this line, from text: 0, or -EINVAL with *why set. */
static int parse_line_sector(struct dm_target *ti, const char *text,
			     sector_t *sector, char **why)
{
	unsigned long long tmp;

	if (kstrtoull(text, 10, &tmp)) {
		*why = "Invalid sector";
		return -EINVAL;
	}
	if (tmp >= ti->len) {
		*why = "Sector beyond the target's end";
		return -EINVAL;
	}
	*sector = tmp;
	return 0;
}

/* ANCHOR: features */
/*
 * The optional features after <device> <start-sector>, read with the core's
 * dm_arg_set helpers: dm_read_arg_group() takes the count and checks it
 * against the bounds, dm_shift_arg() hands out one word at a time.
 */
static int parse_features(struct dm_arg_set *as, struct dm_target *ti,
			  struct faulty_c *fc)
{
	static const struct dm_arg count = {
		0, 2 * FAULTY_MAX_BAD + 1, "Invalid number of feature arguments"
	};
	unsigned int argc;
	bool mode_given = false;
	int ret;

	if (!as->argc)
		return 0;	/* no features: `fail` mode, no bad sectors */

	ret = dm_read_arg_group(&count, as, &argc, &ti->error);
	if (ret)
		return ret;

	while (argc--) {
		const char *word = dm_shift_arg(as);
		sector_t sector;

		if (!strcasecmp(word, "drop_writes") || !strcasecmp(word, "pass")) {
			if (mode_given) {
				ti->error = "Only one of drop_writes and pass";
				return -EINVAL;
			}
			mode_given = true;
			fc->mode = strcasecmp(word, "pass") ? FAULTY_DROP : FAULTY_PASS;
		} else if (!strcasecmp(word, "bad")) {
			if (!argc--) {
				ti->error = "Feature bad needs a sector";
				return -EINVAL;
			}
			ret = parse_line_sector(ti, dm_shift_arg(as), &sector,
						&ti->error);
			if (ret)
				return ret;
			ret = add_bad(fc, sector);
			if (ret) {
				ti->error = "Too many bad sectors";
				return ret;
			}
		} else {
			ti->error = "Unrecognised feature argument";
			return -EINVAL;
		}
	}
	return 0;
}
/* ANCHOR_END: features */

/* ANCHOR: ctr */
static int faulty_ctr(struct dm_target *ti, unsigned int argc, char **argv)
{
	struct dm_arg_set as = { .argc = argc, .argv = argv };
	struct faulty_c *fc;
	unsigned long long tmp;
	int ret;

	if (argc < 2) {
		ti->error = "Invalid argument count";
		return -EINVAL;
	}

	if (kstrtoull(argv[1], 10, &tmp)) {
		ti->error = "Invalid device sector";
		return -EINVAL;
	}

	fc = kzalloc(sizeof(*fc), GFP_KERNEL);
	if (!fc) {
		ti->error = "Cannot allocate context";
		return -ENOMEM;
	}
	fc->start = tmp;
	fc->mode = FAULTY_FAIL;
	spin_lock_init(&fc->lock);

	/* The features follow the two words read above. */
	dm_consume_args(&as, 2);
	ret = parse_features(&as, ti, fc);
	if (ret)
		goto bad;
	if (as.argc) {
		ti->error = "Unexpected words after the features";
		ret = -EINVAL;
		goto bad;
	}

	ret = dm_get_device(ti, argv[0], dm_table_get_mode(ti->table), &fc->dev);
	if (ret) {
		ti->error = "Device lookup failed";
		goto bad;
	}

	ti->num_flush_bios = 1;
	ti->num_discard_bios = 1;
	ti->num_secure_erase_bios = 1;
	ti->num_write_zeroes_bios = 1;
	ti->per_io_data_size = sizeof(struct faulty_io);
	ti->private = fc;
	return 0;

bad:
	kfree(fc);
	return ret;
}
/* ANCHOR_END: ctr */

static void faulty_dtr(struct dm_target *ti)
{
	struct faulty_c *fc = ti->private;

	dm_put_device(ti, fc->dev);
	kfree(fc);
}

/* ANCHOR: map */
static int faulty_map(struct dm_target *ti, struct bio *bio)
{
	struct faulty_c *fc = ti->private;
	struct faulty_io *io = dm_per_bio_data(bio, sizeof(struct faulty_io));
	enum faulty_mode mode = READ_ONCE(fc->mode);
	sector_t first = dm_target_offset(ti, bio->bi_iter.bi_sector);

	bio_set_dev(bio, fc->dev->bdev);
	/* An empty flush has no sectors, so it cannot touch a bad one. */
	io->bad = bio_sectors(bio) && mode != FAULTY_PASS &&
		  touches_bad(fc, first, bio_sectors(bio));

	if (io->bad && bio_op(bio) == REQ_OP_WRITE) {
		if (mode == FAULTY_DROP) {
			/* Report the write done; nothing reaches the disk. */
			atomic64_inc(&fc->dropped_writes);
			bio_endio(bio);
			return DM_MAPIO_SUBMITTED;
		}
		/* The core ends the bio with BLK_STS_IOERR. */
		atomic64_inc(&fc->write_errors);
		return DM_MAPIO_KILL;
	}

	if (bio_sectors(bio))
		bio->bi_iter.bi_sector = fc->start + first;
	return DM_MAPIO_REMAPPED;
}
/* ANCHOR_END: map */

/* ANCHOR: end_io */
/*
 * A read of a bad sector went to the disk like any other (map remapped it)
 * and came back well; here, on its way up, its status becomes an error. The
 * data read is thrown away with it.
 */
static int faulty_end_io(struct dm_target *ti, struct bio *bio,
			 blk_status_t *error)
{
	struct faulty_c *fc = ti->private;
	struct faulty_io *io = dm_per_bio_data(bio, sizeof(struct faulty_io));

	if (io->bad && bio_op(bio) == REQ_OP_READ && *error == BLK_STS_OK) {
		atomic64_inc(&fc->read_errors);
		*error = BLK_STS_IOERR;
	}
	return DM_ENDIO_DONE;
}
/* ANCHOR_END: end_io */

static void faulty_status(struct dm_target *ti, status_type_t type,
			  unsigned int status_flags, char *result,
			  unsigned int maxlen)
{
	struct faulty_c *fc = ti->private;
	enum faulty_mode mode = READ_ONCE(fc->mode);
	size_t sz = 0;	/* DMEMIT appends at result + sz */
	unsigned int i;

	switch (type) {
	case STATUSTYPE_INFO:
		spin_lock(&fc->lock);
		i = fc->nr_bad;
		spin_unlock(&fc->lock);
		DMEMIT("mode=%s bad_sectors=%u", mode_names[mode], i);
		DMEMIT(" read_errors=%lld write_errors=%lld dropped_writes=%lld",
		       (long long)atomic64_read(&fc->read_errors),
		       (long long)atomic64_read(&fc->write_errors),
		       (long long)atomic64_read(&fc->dropped_writes));
		break;

	case STATUSTYPE_TABLE:
		/* The line as it stands now: a reload with it keeps the state. */
		DMEMIT("%s %llu", fc->dev->name, (unsigned long long)fc->start);
		spin_lock(&fc->lock);
		if (mode != FAULTY_FAIL || fc->nr_bad) {
			DMEMIT(" %u", (mode != FAULTY_FAIL) + 2 * fc->nr_bad);
			if (mode != FAULTY_FAIL)
				DMEMIT(" %s", mode == FAULTY_DROP ? "drop_writes" : "pass");
			for (i = 0; i < fc->nr_bad; i++)
				DMEMIT(" bad %llu", (unsigned long long)fc->bad[i]);
		}
		spin_unlock(&fc->lock);
		break;

#if DMW_HAVE_STATUSTYPE_IMA
	case STATUSTYPE_IMA:
		DMEMIT("target_name=%s,target_version=%u.%u.%u",
		       ti->type->name, ti->type->version[0],
		       ti->type->version[1], ti->type->version[2]);
		DMEMIT(",device_name=%s,start=%llu,mode=%s;", fc->dev->name,
		       (unsigned long long)fc->start, mode_names[mode]);
		break;
#endif
	}
}

/* ANCHOR: message */
/*
 * `dmsetup message <device> 0 <words>`. A refusal logs its reason and
 * returns -EINVAL (or -ENOSPC for a full list); `listbad` writes its answer
 * into `result` and returns 1, and dmsetup prints the answer.
 */
static int faulty_message(struct dm_target *ti, unsigned int argc, char **argv,
			  char *result, unsigned int maxlen)
{
	struct faulty_c *fc = ti->private;
	size_t sz = 0;	/* DMEMIT appends at result + sz */
	const char *verb = argv[0];
	unsigned int words;
	sector_t sector;
	char *why;
	unsigned int i;
	int ret;

	if (!strcasecmp(verb, "clearbad") || !strcasecmp(verb, "listbad"))
		words = 1;
	else if (!strcasecmp(verb, "addbad") || !strcasecmp(verb, "removebad") ||
		 !strcasecmp(verb, "mode"))
		words = 2;
	else {
		DMWARN("Unrecognised message received: %s", verb);
		return -EINVAL;
	}
	if (argc != words) {
		DMWARN("Invalid argument count for message %s: %u words, not %u",
		       verb, argc, words);
		return -EINVAL;
	}

	if (!strcasecmp(verb, "clearbad")) {
		spin_lock(&fc->lock);
		fc->nr_bad = 0;
		spin_unlock(&fc->lock);
		return 0;
	}
	if (!strcasecmp(verb, "listbad")) {
		spin_lock(&fc->lock);
		for (i = 0; i < fc->nr_bad; i++)
			DMEMIT("%s%llu", i ? " " : "", (unsigned long long)fc->bad[i]);
		spin_unlock(&fc->lock);
		/*
		 * 1, not 0: the core then hands `result` back to the caller
		 * (target_message() in dm-ioctl.c sets DM_DATA_OUT_FLAG).
		 */
		return 1;
	}
	if (!strcasecmp(verb, "mode")) {
		for (i = 0; i < ARRAY_SIZE(mode_names); i++) {
			if (!strcasecmp(argv[1], mode_names[i])) {
				WRITE_ONCE(fc->mode, i);
				return 0;
			}
		}
		DMWARN("Unknown mode %s: fail, drop or pass", argv[1]);
		return -EINVAL;
	}

	/* addbad or removebad <sector> */
	ret = parse_line_sector(ti, argv[1], &sector, &why);
	if (ret) {
		DMWARN("%s: %s", why, argv[1]);
		return ret;
	}
	if (!strcasecmp(verb, "removebad")) {
		if (remove_bad(fc, sector)) {
			DMWARN("Sector %llu is not bad", (unsigned long long)sector);
			return -EINVAL;
		}
		return 0;
	}
	ret = add_bad(fc, sector);
	if (ret)
		DMWARN("Too many bad sectors: at most %d", FAULTY_MAX_BAD);
	return ret;
}
/* ANCHOR_END: message */

static int faulty_iterate_devices(struct dm_target *ti,
				  iterate_devices_callout_fn fn, void *data)
{
	struct faulty_c *fc = ti->private;

	return fn(ti, fc->dev, fc->start, ti->len, data);
}

static struct target_type faulty_target = {
	.name		 = "faulty",
	.version	 = {1, 0, 0},
	.module		 = THIS_MODULE,
	.ctr		 = faulty_ctr,
	.dtr		 = faulty_dtr,
	.map		 = faulty_map,
	.end_io		 = faulty_end_io,
	.status		 = faulty_status,
	.message	 = faulty_message,
	.iterate_devices = faulty_iterate_devices,
};

static int __init dm_faulty_init(void)
{
	return dm_register_target(&faulty_target);
}

static void __exit dm_faulty_exit(void)
{
	dm_unregister_target(&faulty_target);
}

module_init(dm_faulty_init);
module_exit(dm_faulty_exit);

MODULE_DESCRIPTION(DM_NAME " faulty: bad sectors on purpose");
MODULE_LICENSE("GPL");
