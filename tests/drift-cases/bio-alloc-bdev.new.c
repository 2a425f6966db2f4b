static struct bio *tally_new_bio(struct tally_c *tc)
{
	struct bio *bio = bio_alloc(tc->dev->bdev, 1, REQ_OP_WRITE, GFP_NOIO); /* drift */

	return bio ? bio : bio_alloc_bioset(tc->dev->bdev, 1, REQ_OP_WRITE, GFP_NOIO, &tc->bs); /* drift */
}
