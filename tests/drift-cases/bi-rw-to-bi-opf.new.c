static int tally_is_write(struct bio *bio)
{
	return op_is_write(bio_op(bio)); /* drift */
}
