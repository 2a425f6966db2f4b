static int tally_ctr(struct dm_target *ti, unsigned int argc, char **argv)
{
	ti->num_flush_requests = 1; /* drift */
	return 0;
}
