static void tally_prepare(struct bio *bio)
{
	bio_set_op_attrs(bio, REQ_OP_WRITE, REQ_SYNC); /* drift */
}
