static void tally_io_hints(struct dm_target *ti, struct queue_limits *limits)
{
	blk_limits_io_min(limits, 4096); /* drift */
	blk_limits_io_opt(limits, 65536); /* drift */
}
