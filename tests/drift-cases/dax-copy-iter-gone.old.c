static struct target_type tally_target = {
	.name               = "tally",
	.dax_copy_from_iter = tally_dax_copy_from_iter, /* drift */
	.dax_copy_to_iter   = tally_dax_copy_to_iter, /* drift */
};
