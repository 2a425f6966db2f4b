static void tally_stop(struct tally_c *tc)
{
	timer_delete_sync(&tc->timer);
	timer_delete(&tc->slow);
}
