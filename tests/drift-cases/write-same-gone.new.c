static int tally_ctr(struct dm_target *ti, unsigned int argc, char **argv)
{
	ti->num_discard_bios = 1;
	return 0;
}
