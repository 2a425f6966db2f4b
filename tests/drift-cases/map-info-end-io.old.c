static int tally_end_io(struct dm_target *ti, struct bio *bio, /* drift */
			int error, union map_info *map_context)
{
	return error;
}

static struct target_type tally_target = {
	.name   = "tally",
	.end_io = tally_end_io,
};
