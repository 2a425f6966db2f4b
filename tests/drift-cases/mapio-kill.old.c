static int tally_map(struct dm_target *ti, struct bio *bio)
{
	struct tally_c *tc = ti->private;

	if (bio_sectors(bio) > tc->max)
		return -EIO;
	return DM_MAPIO_REMAPPED;
}
