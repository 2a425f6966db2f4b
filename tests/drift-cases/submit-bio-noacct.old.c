static void tally_resubmit(struct bio *clone)
{
	generic_make_request(clone); /* drift */
}
