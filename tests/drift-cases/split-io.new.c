static int tally_ctr(struct dm_target *ti, unsigned int argc, char **argv)
{
	int r = dm_set_target_max_io_len(ti, 8); /* drift */

	if (r)
		return r;
	ti->max_io_len = 8; /* drift */
	return 0;
}
