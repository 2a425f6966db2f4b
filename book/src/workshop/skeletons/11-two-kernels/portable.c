// SPDX-License-Identifier: GPL-2.0
/*
 * portable - a passthrough written for Linux 6.1, to build on 5.10 and 7.3.
 *
 *   <start> <length> portable <device> <start-sector>
 * It checks the table's start against the device's size itself, answers
 * every status type, and passes ioctls on to its device, as linear does.
 * Three calls changed between 5.10 and 7.3; each TODO is one.
 */

#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/slab.h>
#include <linux/bio.h>
#include <linux/version.h>
#include <linux/device-mapper.h>

#define DM_MSG_PREFIX "portable"

struct portable_c {
	struct dm_dev *dev;
	sector_t start;
};

/* ANCHOR: size */
/* TODO 1: bdev_nr_sectors() arrived in 5.11; before it, read the inode. */
static sector_t portable_dev_sectors(struct block_device *bdev)
{
	return bdev_nr_sectors(bdev);
}
/* ANCHOR_END: size */

static int portable_ctr(struct dm_target *ti, unsigned int argc, char **argv)
{
	struct portable_c *pc;
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
	pc = kzalloc(sizeof(*pc), GFP_KERNEL);
	if (!pc) {
		ti->error = "Cannot allocate context";
		return -ENOMEM;
	}
	pc->start = start;
	ret = dm_get_device(ti, argv[0], dm_table_get_mode(ti->table), &pc->dev);
	if (ret) {
		ti->error = "Device lookup failed";
		goto bad;
	}
	if (pc->start >= portable_dev_sectors(pc->dev->bdev)) {
		ti->error = "Start sector is beyond the end of the device";
		dm_put_device(ti, pc->dev);
		ret = -EINVAL;
		goto bad;
	}
	ti->num_flush_bios = 1;
	ti->num_discard_bios = 1;
	ti->private = pc;
	return 0;

bad:
	kfree(pc);
	return ret;
}

static void portable_dtr(struct dm_target *ti)
{
	struct portable_c *pc = ti->private;

	dm_put_device(ti, pc->dev);
	kfree(pc);
}

static int portable_map(struct dm_target *ti, struct bio *bio)
{
	struct portable_c *pc = ti->private;

	bio_set_dev(bio, pc->dev->bdev);
	if (bio_sectors(bio))
		bio->bi_iter.bi_sector = pc->start +
			dm_target_offset(ti, bio->bi_iter.bi_sector);
	return DM_MAPIO_REMAPPED;
}

/* ANCHOR: status */
static void portable_status(struct dm_target *ti, status_type_t type,
			    unsigned int status_flags, char *result,
			    unsigned int maxlen)
{
	struct portable_c *pc = ti->private;
	size_t sz = 0;

	switch (type) {
	case STATUSTYPE_INFO:
		result[0] = '\0';
		break;
	case STATUSTYPE_TABLE:
		DMEMIT("%s %llu", pc->dev->name, (unsigned long long)pc->start);
		break;
	/* TODO 2: STATUSTYPE_IMA arrived in 5.15. */
	case STATUSTYPE_IMA:
		DMEMIT("target_name=%s,target_version=%u.%u.%u,device_name=%s,start=%llu;",
		       ti->type->name, ti->type->version[0], ti->type->version[1],
		       ti->type->version[2], pc->dev->name,
		       (unsigned long long)pc->start);
		break;
	}
}
/* ANCHOR_END: status */

/* ANCHOR: prepare_ioctl */
/*
 * Name the device an ioctl on the mapped device goes to. 1: the line does
 * not cover the whole device, so only a privileged caller may pass it on.
 */
/* TODO 3: 6.16 added the ioctl's cmd and arg, and a bool *forward. */
static int portable_prepare_ioctl(struct dm_target *ti, struct block_device **bdev)
{
	struct portable_c *pc = ti->private;

	*bdev = pc->dev->bdev;
	return pc->start || ti->len != portable_dev_sectors(pc->dev->bdev);
}
/* ANCHOR_END: prepare_ioctl */

static int portable_iterate_devices(struct dm_target *ti,
				    iterate_devices_callout_fn fn, void *data)
{
	struct portable_c *pc = ti->private;

	return fn(ti, pc->dev, pc->start, ti->len, data);
}

static struct target_type portable_target = {
	.name		 = "portable",
	.version	 = {1, 0, 0},
	.module		 = THIS_MODULE,
	.ctr		 = portable_ctr,
	.dtr		 = portable_dtr,
	.map		 = portable_map,
	.status		 = portable_status,
	.prepare_ioctl	 = portable_prepare_ioctl,
	.iterate_devices = portable_iterate_devices,
};

static int __init dm_portable_init(void)
{
	return dm_register_target(&portable_target);
}

static void __exit dm_portable_exit(void)
{
	dm_unregister_target(&portable_target);
}

module_init(dm_portable_init);
module_exit(dm_portable_exit);

MODULE_DESCRIPTION(DM_NAME " portable: one source for 5.10 to 7.3");
MODULE_LICENSE("GPL");
