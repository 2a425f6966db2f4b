static int tally_ctr(struct dm_target *ti, unsigned int argc, char **argv)
{
	blk_mode_t mode = dm_table_get_mode(ti->table); /* drift */

	return dm_get_device(ti, argv[0], mode, &dev);
}
