static struct bio *tally_new_bio(struct tally_c *tc)
{
	struct bio *bio = bio_alloc(GFP_NOIO, 1); /* drift */

	return bio ? bio : bio_alloc_bioset(GFP_NOIO, 1, &tc->bs); /* drift */
}
