static int tally_map(struct dm_target *ti, struct bio *bio)
{
	struct mapped_device *md = dm_table_get_md(ti->table);

	if (dm_suspended(md)) /* drift */
		return DM_MAPIO_REQUEUE;
	if (dm_suspended(dm_table_get_md(ti->table))) /* drift */
		return DM_MAPIO_REQUEUE;
	return DM_MAPIO_REMAPPED;
}
