static struct bio *tally_clone(struct tally_c *tc, struct bio *bio)
{
	return bio_clone_fast(bio, GFP_NOIO, &tc->bs); /* drift */
}
