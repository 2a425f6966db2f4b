static void tally_tick(struct timer_list *t)
{
	struct tally_c *tc = from_timer(tc, t, timer); /* drift */

	queue_work(tc->wq, &tc->work);
}
