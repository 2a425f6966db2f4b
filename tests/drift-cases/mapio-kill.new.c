static int tally_map(struct dm_target *ti, struct bio *bio)
{
	struct tally_c *tc = ti->private;

	if (bio_sectors(bio) > tc->max)
		return DM_MAPIO_KILL; /* drift */
	return DM_MAPIO_REMAPPED;
}
