static void tally_write(struct bio *bio)
{
	submit_bio(WRITE, bio); /* drift */
}
