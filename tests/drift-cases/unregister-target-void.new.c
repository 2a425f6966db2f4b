static void __exit tally_exit(void)
{
	dm_unregister_target(&tally_target);
}
