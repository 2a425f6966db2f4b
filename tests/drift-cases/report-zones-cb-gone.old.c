static int tally_report_zones(struct dm_target *ti,
		struct dm_report_zones_args *args, unsigned int nr_zones)
{
	struct tally_c *tc = ti->private;

	return blkdev_report_zones(tc->dev->bdev, args->next_sector, nr_zones,
				   dm_report_zones_cb, args); /* drift */
}
