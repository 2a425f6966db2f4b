static void tally_io_hints(struct dm_target *ti, struct queue_limits *limits)
{
	limits->io_min = 4096;
	limits->io_opt = 65536;
}
