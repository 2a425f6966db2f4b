static void tally_fail(struct bio *bio)
{
	bio->bi_status = BLK_STS_IOERR; /* drift */
	bio_endio(bio);
}
