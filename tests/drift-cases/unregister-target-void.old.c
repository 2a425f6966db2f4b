static void __exit tally_exit(void)
{
	int r = dm_unregister_target(&tally_target); /* drift */

	if (r < 0)
		DMERR("unregister failed %d", r);
}
