static void tally_endio(struct bio *clone, int error) /* drift */
{
	bio_put(clone);
}

static void tally_send(struct bio *clone)
{
	clone->bi_end_io = tally_endio;
}
