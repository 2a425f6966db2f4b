static void tally_resubmit(struct bio *clone)
{
	submit_bio_noacct(clone); /* drift */
}
