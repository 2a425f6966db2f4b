static int tally_map(struct dm_target *ti, struct bio *bio)
{
	struct tally_c *tc = ti->private;

	if (bio_sectors(bio) > tc->max)
		return DM_MAPIO_KILL;
	return DM_MAPIO_REMAPPED;
}

static struct target_type tally_target = {
	.name = "tally",
	.map = tally_map,
};
