static int __init dm_tally_init(void)
{
	return dm_register_target(&tally_target);
}

static void __exit dm_tally_exit(void)
{
	dm_unregister_target(&tally_target);
}

module_init(dm_tally_init);
module_exit(dm_tally_exit);
