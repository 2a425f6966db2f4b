static struct target_type tally_target = {
	.name = "tally",
};
