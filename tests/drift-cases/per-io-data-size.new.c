static int tally_ctr(struct dm_target *ti, unsigned int argc, char **argv)
{
	ti->per_io_data_size = sizeof(struct tally_io); /* drift */
	return 0;
}
