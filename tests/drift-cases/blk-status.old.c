static void tally_fail(struct bio *bio)
{
	bio->bi_error = -EIO; /* drift */
	bio_endio(bio);
}
