static int tally_is_write(struct bio *bio)
{
	return (bio->bi_rw & WRITE) == WRITE; /* drift */
}
