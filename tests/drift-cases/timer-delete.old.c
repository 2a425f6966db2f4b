static void tally_stop(struct tally_c *tc)
{
	del_timer_sync(&tc->timer); /* drift */
	del_timer(&tc->slow); /* drift */
}
