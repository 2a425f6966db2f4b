static bool tally_is_flush(struct bio *bio)
{
	return bio->bi_opf & REQ_PREFLUSH; /* drift */
}
