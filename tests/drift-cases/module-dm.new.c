static struct target_type tally_target = {
	.name = "tally",
};
module_dm(tally); /* drift */
