static int tally_ctr(struct dm_target *ti, unsigned int argc, char **argv)
{
	ti->num_write_same_bios = 1; /* drift */
	return 0;
}

static bool tally_same(struct bio *bio)
{
	return bio_op(bio) == REQ_OP_WRITE_SAME; /* drift */
}
