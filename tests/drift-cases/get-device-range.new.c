static int tally_ctr(struct dm_target *ti, unsigned int argc, char **argv)
{
	struct tally_c *tc = ti->private;

	if (dm_get_device(ti, argv[0], dm_table_get_mode(ti->table), /* drift */
			  &tc->dev))
		return -EINVAL;
	return 0;
}
