static int tally_ctr(struct dm_target *ti, unsigned int argc, char **argv)
{
	ti->accounts_remapped_io = true; /* drift */
	return 0;
}

static void tally_send(struct bio *bio, struct bio *clone)
{
	dm_submit_bio_remap(bio, clone); /* drift */
}
