static void tally_fail(struct bio *bio)
{
	bio_endio(bio, -EIO); /* drift */
}
