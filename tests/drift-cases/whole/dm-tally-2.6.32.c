/*
 * dm-tally: a passthrough target that counts the reads, writes and errors
 * on their way to one device, written against the Linux 2.6.32 API.
 *
 * Table line: <start> <length> tally <device> <start-sector>
 * Messages:   "reset" zeroes the counters.
 * Status:     "<reads> <writes> <errors>"
 *
 * The drift doctor's tests read it: it must build on 2.6.32 and hits most of
 * the changes made since.
 */

#include <linux/module.h>
#include <linux/init.h>
#include <linux/bio.h>
#include <linux/fs.h>
#include <linux/slab.h>
#include <linux/device-mapper.h>

#define DM_MSG_PREFIX "tally"

struct tally_c {
	struct dm_dev *dev;
	sector_t start;
	atomic_t reads;
	atomic_t writes;
	atomic_t errors;
};

static int tally_ctr(struct dm_target *ti, unsigned int argc, char **argv)
{
	struct tally_c *tc;
	unsigned long long start;
	fmode_t mode;

	if (argc != 2) {
		ti->error = "Invalid argument count";
		return -EINVAL;
	}

	if (sscanf(argv[1], "%llu", &start) != 1) {
		ti->error = "Invalid device sector";
		return -EINVAL;
	}

	tc = kzalloc(sizeof(*tc), GFP_KERNEL);
	if (tc == NULL) {
		ti->error = "Cannot allocate tally context";
		return -ENOMEM;
	}
	tc->start = start;

	mode = dm_table_get_mode(ti->table);
	if (dm_get_device(ti, argv[0], tc->start, ti->len, mode, &tc->dev)) {
		ti->error = "Device lookup failed";
		kfree(tc);
		return -EINVAL;
	}

	ti->num_flush_requests = 1;
	ti->private = tc;
	return 0;
}

static void tally_dtr(struct dm_target *ti)
{
	struct tally_c *tc = ti->private;

	dm_put_device(ti, tc->dev);
	kfree(tc);
}

static int tally_map(struct dm_target *ti, struct bio *bio,
		     union map_info *map_context)
{
	struct tally_c *tc = ti->private;
	sector_t dev_size = i_size_read(tc->dev->bdev->bd_inode) >> 9;

	if (bio->bi_rw & WRITE)
		atomic_inc(&tc->writes);
	else
		atomic_inc(&tc->reads);

	bio->bi_bdev = tc->dev->bdev;
	bio->bi_sector = tc->start + (bio->bi_sector - ti->begin);

	/* The device shrank under us: fail rather than run off its end. */
	if (bio->bi_sector + bio_sectors(bio) > dev_size) {
		atomic_inc(&tc->errors);
		bio_endio(bio, -EIO);
		return DM_MAPIO_SUBMITTED;
	}

	return DM_MAPIO_REMAPPED;
}

static int tally_end_io(struct dm_target *ti, struct bio *bio,
			int error, union map_info *map_context)
{
	struct tally_c *tc = ti->private;

	if (error)
		atomic_inc(&tc->errors);
	return error;
}

static int tally_status(struct dm_target *ti, status_type_t type,
			char *result, unsigned int maxlen)
{
	struct tally_c *tc = ti->private;
	unsigned int sz = 0;

	switch (type) {
	case STATUSTYPE_INFO:
		DMEMIT("%d %d %d", atomic_read(&tc->reads),
		       atomic_read(&tc->writes), atomic_read(&tc->errors));
		break;

	case STATUSTYPE_TABLE:
		DMEMIT("%s %llu", tc->dev->name,
		       (unsigned long long)tc->start);
		break;
	}
	return 0;
}

static int tally_message(struct dm_target *ti, unsigned argc, char **argv)
{
	struct tally_c *tc = ti->private;

	if (argc == 1 && !strnicmp(argv[0], "reset", 5)) {
		atomic_set(&tc->reads, 0);
		atomic_set(&tc->writes, 0);
		atomic_set(&tc->errors, 0);
		return 0;
	}

	DMWARN("Unrecognised message received.");
	return -EINVAL;
}

static struct target_type tally_target = {
	.name    = "tally",
	.version = {1, 0, 0},
	.module  = THIS_MODULE,
	.ctr     = tally_ctr,
	.dtr     = tally_dtr,
	.map     = tally_map,
	.end_io  = tally_end_io,
	.status  = tally_status,
	.message = tally_message,
};

static int __init dm_tally_init(void)
{
	int r = dm_register_target(&tally_target);

	if (r < 0)
		DMERR("register failed %d", r);
	return r;
}

static void __exit dm_tally_exit(void)
{
	dm_unregister_target(&tally_target);
}

module_init(dm_tally_init);
module_exit(dm_tally_exit);

MODULE_DESCRIPTION(DM_NAME " tally target: counts I/O on the way through");
MODULE_LICENSE("GPL");
