static void tally_send(struct bio *clone)
{
	submit_bio_noacct(clone);
}
