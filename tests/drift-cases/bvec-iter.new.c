static void tally_remap(struct dm_target *ti, struct bio *bio, sector_t start)
{
	bio->bi_iter.bi_sector = start + /* drift */
		dm_target_offset(ti, bio->bi_iter.bi_sector); /* drift */
}
