static void tally_prepare(struct bio *bio)
{
	bio->bi_opf = REQ_OP_WRITE | REQ_SYNC;
}
