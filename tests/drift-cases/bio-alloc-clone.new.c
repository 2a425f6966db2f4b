static struct bio *tally_clone(struct tally_c *tc, struct bio *bio)
{
	return bio_alloc_clone(tc->dev->bdev, bio, GFP_NOIO, &tc->bs); /* drift */
}
