static int tally_report_zones(struct dm_target *ti,
		struct dm_report_zones_args *args, unsigned int nr_zones)
{
	struct tally_c *tc = ti->private;

	return dm_report_zones(tc->dev->bdev, tc->start, args->next_sector,
			       args, nr_zones);
}
