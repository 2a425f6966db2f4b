static int tally_map(struct dm_target *ti, struct bio *bio)
{
	struct tally_c *tc = ti->private;

	bio->bi_bdev = tc->dev->bdev; /* drift */
	return DM_MAPIO_REMAPPED;
}
