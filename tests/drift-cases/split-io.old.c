static int tally_ctr(struct dm_target *ti, unsigned int argc, char **argv)
{
	ti->split_io = 8; /* drift */
	return 0;
}
