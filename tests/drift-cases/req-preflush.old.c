static bool tally_is_flush(struct bio *bio)
{
	return bio->bi_rw & REQ_FLUSH; /* drift */
}
