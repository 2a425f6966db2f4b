// SPDX-License-Identifier: GPL-2.0
/*
 * dusty - a passthrough with a list of bad sectors, managed by messages.
 *
 *   <start> <length> dusty <device> <start-sector>
 * Messages (`dmsetup message <device> 0 ...`):
 *   addbad <sector>     sector <sector> of the line turns bad
 *   removebad <sector>  and good again (refused if it was not bad)
 *   clearbad            every sector is good again
 *   listbad             answers with the bad sectors, in order
 * A bio that touches a bad sector fails with an I/O error.
 */

#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/slab.h>
#include <linux/bio.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/device-mapper.h>

#define DM_MSG_PREFIX "dusty"

/* A teaching target needs few: a sorted array is enough. */
#define DUSTY_MAX_BAD 16

struct dusty_c {
	struct dm_dev *dev;
	sector_t start;
	/* map reads the list and messages change it, on any CPU. */
	spinlock_t lock;
	sector_t bad[DUSTY_MAX_BAD];	/* sorted, counted from the line's start */
	unsigned int nr_bad;
};

static int dusty_ctr(struct dm_target *ti, unsigned int argc, char **argv)
{
	struct dusty_c *dc;
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
	dc = kzalloc(sizeof(*dc), GFP_KERNEL);
	if (!dc) {
		ti->error = "Cannot allocate context";
		return -ENOMEM;
	}
	dc->start = start;
	spin_lock_init(&dc->lock);
	ret = dm_get_device(ti, argv[0], dm_table_get_mode(ti->table), &dc->dev);
	if (ret) {
		ti->error = "Device lookup failed";
		kfree(dc);
		return ret;
	}
	ti->num_flush_bios = 1;
	ti->private = dc;
	return 0;
}

static void dusty_dtr(struct dm_target *ti)
{
	struct dusty_c *dc = ti->private;

	dm_put_device(ti, dc->dev);
	kfree(dc);
}

/* Whether sectors [first, first + len) of the line hold a bad one. */
static bool dusty_touches_bad(struct dusty_c *dc, sector_t first, unsigned int len)
{
	unsigned int i;
	bool bad = false;

	spin_lock(&dc->lock);
	for (i = 0; i < dc->nr_bad && !bad; i++)
		bad = dc->bad[i] >= first && dc->bad[i] < first + len;
	spin_unlock(&dc->lock);
	return bad;
}

/* ANCHOR: map */
static int dusty_map(struct dm_target *ti, struct bio *bio)
{
	struct dusty_c *dc = ti->private;
	sector_t offset = dm_target_offset(ti, bio->bi_iter.bi_sector);

	/* TODO 1: fail a bio that touches a bad sector of the line. */
	if (bio_sectors(bio) && dusty_touches_bad(dc, offset, bio_sectors(bio)))
		return DM_MAPIO_KILL;
	/* END TODO 1 */

	bio_set_dev(bio, dc->dev->bdev);
	if (bio_sectors(bio))
		bio->bi_iter.bi_sector = dc->start + offset;
	return DM_MAPIO_REMAPPED;
}
/* ANCHOR_END: map */

/* Add `sector` in order; -ENOSPC when the list is full. */
static int dusty_add(struct dusty_c *dc, sector_t sector)
{
	unsigned int i;
	int ret = 0;

	spin_lock(&dc->lock);
	for (i = 0; i < dc->nr_bad && dc->bad[i] < sector; i++)
		;
	if (i < dc->nr_bad && dc->bad[i] == sector)
		goto out;
	if (dc->nr_bad == DUSTY_MAX_BAD) {
		ret = -ENOSPC;
		goto out;
	}
	memmove(&dc->bad[i + 1], &dc->bad[i], (dc->nr_bad - i) * sizeof(sector_t));
	dc->bad[i] = sector;
	dc->nr_bad++;
out:
	spin_unlock(&dc->lock);
	return ret;
}

/* Remove `sector`; -ENOENT when it was not bad. */
static int dusty_remove(struct dusty_c *dc, sector_t sector)
{
	unsigned int i;
	int ret = -ENOENT;

	spin_lock(&dc->lock);
	for (i = 0; i < dc->nr_bad; i++) {
		if (dc->bad[i] != sector)
			continue;
		memmove(&dc->bad[i], &dc->bad[i + 1],
			(dc->nr_bad - i - 1) * sizeof(sector_t));
		dc->nr_bad--;
		ret = 0;
		break;
	}
	spin_unlock(&dc->lock);
	return ret;
}

/* ANCHOR: message */
static int dusty_message(struct dm_target *ti, unsigned int argc, char **argv,
			 char *result, unsigned int maxlen)
{
	struct dusty_c *dc = ti->private;

	if (argc == 1 && !strcasecmp(argv[0], "clearbad")) {
		spin_lock(&dc->lock);
		dc->nr_bad = 0;
		spin_unlock(&dc->lock);
		return 0;
	}
	/* TODO 2: listbad answers with the bad sectors: returning 1 tells the
	 * core that result holds an answer for the caller. */
	if (argc == 1 && !strcasecmp(argv[0], "listbad")) {
		size_t sz = 0;	/* DMEMIT appends at result + sz */
		unsigned int i;

		spin_lock(&dc->lock);
		for (i = 0; i < dc->nr_bad; i++)
			DMEMIT("%s%llu", i ? " " : "", (unsigned long long)dc->bad[i]);
		spin_unlock(&dc->lock);
		return 1;
	}
	/* END TODO 2 */
	/* TODO 3: addbad and removebad take one sector inside the line. */
	if (argc == 2 && (!strcasecmp(argv[0], "addbad") ||
			  !strcasecmp(argv[0], "removebad"))) {
		unsigned long long sector;
		int ret;

		if (kstrtoull(argv[1], 10, &sector) || sector >= ti->len) {
			DMWARN("Invalid sector for %s: %s", argv[0], argv[1]);
			return -EINVAL;
		}
		if (!strcasecmp(argv[0], "addbad"))
			ret = dusty_add(dc, sector);
		else
			ret = dusty_remove(dc, sector);
		if (ret == -ENOENT)
			DMWARN("Sector %llu is not bad", sector);
		return ret;
	}
	/* END TODO 3 */
	DMWARN("Unrecognised message received: %s", argv[0]);
	return -EINVAL;
}
/* ANCHOR_END: message */

static int dusty_iterate_devices(struct dm_target *ti,
				 iterate_devices_callout_fn fn, void *data)
{
	struct dusty_c *dc = ti->private;

	return fn(ti, dc->dev, dc->start, ti->len, data);
}

static struct target_type dusty_target = {
	.name		 = "dusty",
	.version	 = {1, 0, 0},
	.module		 = THIS_MODULE,
	.ctr		 = dusty_ctr,
	.dtr		 = dusty_dtr,
	.map		 = dusty_map,
	.message	 = dusty_message,
	.iterate_devices = dusty_iterate_devices,
};

static int __init dm_dusty_init(void)
{
	return dm_register_target(&dusty_target);
}

static void __exit dm_dusty_exit(void)
{
	dm_unregister_target(&dusty_target);
}

module_init(dm_dusty_init);
module_exit(dm_dusty_exit);

MODULE_DESCRIPTION(DM_NAME " dusty: bad sectors managed by message");
MODULE_LICENSE("GPL");
