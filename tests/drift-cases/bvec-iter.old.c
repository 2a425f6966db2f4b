static void tally_remap(struct dm_target *ti, struct bio *bio, sector_t start)
{
	bio->bi_sector = start + (bio->bi_sector - ti->begin); /* drift */
}
