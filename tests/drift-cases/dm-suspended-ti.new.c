static int tally_map(struct dm_target *ti, struct bio *bio)
{
	if (dm_suspended(ti)) /* drift */
		return DM_MAPIO_REQUEUE;
	return DM_MAPIO_REMAPPED;
}
